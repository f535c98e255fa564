#!/usr/bin/env bash
# Set up what the console's browser tests need, from package registries only:
#   * Debian's chromium and chromium-driver (apt-get, when root and missing), and
#   * axe-core's axe.min.js from the npm registry (`npm pack axe-core@4`) into var/vendor/.
# Never fails the build: when something cannot be set up, it says why and the browser tests
# skip with that reason.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
AXE_DIR="$ROOT/var/vendor"
AXE="$AXE_DIR/axe.min.js"

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "ensure-browser-tests: installing chromium and chromium-driver (Debian packages)" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq chromium chromium-driver >/dev/null \
      || echo "ensure-browser-tests: could not install chromium; browser tests will skip" >&2
  else
    echo "ensure-browser-tests: chromium/chromium-driver missing and not root; browser tests" \
         "will skip (apt-get install chromium chromium-driver)" >&2
  fi
fi

if [ ! -s "$AXE" ]; then
  if command -v npm >/dev/null; then
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    if (cd "$WORK" && npm pack --silent axe-core@4 >/dev/null 2>&1) \
        && tar -xzf "$WORK"/axe-core-*.tgz -C "$WORK" package/axe.min.js; then
      mkdir -p "$AXE_DIR" && cp "$WORK/package/axe.min.js" "$AXE"
      echo "ensure-browser-tests: axe-core $(cd "$WORK" && ls axe-core-*.tgz) -> var/vendor/" >&2
    else
      echo "ensure-browser-tests: npm pack axe-core@4 failed; accessibility checks will skip" >&2
    fi
  else
    echo "ensure-browser-tests: npm not found; accessibility checks will skip" >&2
  fi
fi
exit 0
