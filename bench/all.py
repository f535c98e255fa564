"""Run every benchmark in turn (each in its own process): ``python -m bench.all``.

Options: ``--only verification,scenes`` to pick; ``--calibrate`` to re-derive and write the
default pack's thresholds first (``bench.calibrate``), so the other benchmarks use them.
A benchmark whose data or optional dependency is missing prints SKIPPED and is not a failure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

BENCHMARKS = (
    "verification",
    "open_set",
    "scenes",
    "speed",
    "index_scale",
    "peer",
    "service_load",
    "watermarks",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = set(names) - set(BENCHMARKS) - {"calibrate"}
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    if args.calibrate:
        names = ["calibrate", *[n for n in names if n != "calibrate"]]
    outcomes = []
    for name in names:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        outcomes.append((name, code, time.perf_counter() - started))
    print("\n=== summary ===")
    for name, code, seconds in outcomes:
        print(f"  bench.{name:<13} {'ok' if code == 0 else f'FAILED ({code})'}  {seconds:.0f}s")
    return 1 if any(code for _, code, _ in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
