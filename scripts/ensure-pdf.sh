#!/usr/bin/env bash
# Set up what PDF takedown notices need (WeasyPrint draws with Pango): Debian's
# libpango-1.0-0 and libpangoft2-1.0-0, and a font (fonts-dejavu-core), installed with
# apt-get when root and missing. Never fails the build: when they cannot be installed it
# says why, the PDF tests skip with that reason, and the service answers 503
# pdf_unavailable for a PDF (the HTML notice still works).
set -uo pipefail

missing=()
for lib in libpango-1.0.so.0 libpangoft2-1.0.so.0; do
  ldconfig -p 2>/dev/null | grep -q "$lib" || missing+=("$lib")
done
[ -d /usr/share/fonts/truetype/dejavu ] || missing+=("fonts-dejavu-core")
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-pdf: installing Pango and a font for PDF notices (${missing[*]} missing)" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core >/dev/null \
    || echo "ensure-pdf: could not install Pango; PDF tests will skip" >&2
else
  echo "ensure-pdf: ${missing[*]} missing and not root; PDF tests will skip" \
       "(apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core)" >&2
fi
exit 0
