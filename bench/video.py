"""Video speed and truth (issue 21): ``twinwatch scan --json`` on clips made here.

    python -m bench.video [--seconds 60] [--sizes 720,1080] [--clips DIR]

The clips are made from ../shared/faces/lfw (``bench/clips.py``) so the truth is known:
talent A alone for half the clip (panned and zoomed: one 30-s appearance at 60 s), a
stranger, B beside the stranger, then A beside B; H.264 at 30 fps, 1280x720 and 1920x1080.
Two talents are registered from another photo of theirs. Each clip is scanned by a whole
``twinwatch scan --json`` process (start-up and model load included) and reports: ×real
time (clip seconds / process seconds), the process's peak RSS, and the checks: every
talent appearance found as one track with start and end within 0.5 s, no stranger
matched, A's long appearance one track.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.clips import (
    Actor,
    Appearance,
    Shot,
    appearances,
    encode,
    lfw_people,
    photos_of,
    read_still,
    reference_jpeg,
)
from bench.common import (
    bench_settings,
    facts_line,
    load_bench_engine,
    machine_facts,
    md_table,
    require_shared_faces,
    run_main,
    write_results,
)
from indexer.registry import PhotoInput
from indexer.runtime import open_runtime

TOLERANCE_S = 0.5
SIZES = {720: (1280, 720), 1080: (1920, 1080)}
TALENTS = ("A", "B")
_PEAK = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: sys.stderr.write("
    "'PEAK_RSS_KB=%d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
    "from service.cli import main\n"
    "main()\n"
)


def script(people: list[Path], seconds: float) -> list[Shot]:
    a, b, c = (read_still(photos_of(p)[1]) for p in people[:3])
    half, tenth = seconds / 2, seconds / 6
    return [
        Shot(half, (40, 60, 90), [Actor("A", a, (0.25, 0.5, 0.4), (0.7, 0.45, 0.8))]),
        Shot(tenth, (150, 120, 40), [Actor("C", c, (0.5, 0.5, 0.6), (0.45, 0.5, 0.7))]),
        Shot(
            tenth,
            (90, 30, 120),
            [
                Actor("B", b, (0.3, 0.5, 0.5), (0.35, 0.5, 0.5)),
                Actor("C", c, (0.7, 0.5, 0.5), (0.65, 0.5, 0.5)),
            ],
        ),
        Shot(
            tenth,
            (20, 20, 20),
            [
                Actor("A", a, (0.28, 0.5, 0.55), (0.3, 0.5, 0.6)),
                Actor("B", b, (0.72, 0.5, 0.55), (0.7, 0.5, 0.6)),
            ],
        ),
    ]


def _register(data_dir: Path, people: list[Path]) -> None:
    from service.migrations.startup import prepare_schema  # the schema `twinwatch` expects

    settings = bench_settings(data_dir=data_dir)
    runtime = open_runtime(settings, analyser=load_bench_engine(), prepare_schema=prepare_schema)
    try:
        agency = runtime.registry.ensure_agency(name="Bench")
        for label, person in zip(TALENTS, people, strict=False):
            talent, _ = runtime.registry.ensure_talent(agency_id=agency.id, name=label)
            first = photos_of(person)[0]
            [outcome] = runtime.registry.enrol_photos(
                talent_id=talent.id, photos=[PhotoInput(first.name, reference_jpeg(first))]
            )
            if not outcome.accepted:
                raise RuntimeError(f"{person.name}: {outcome.reasons}")
    finally:
        runtime.close()


def _scan_process(clip: Path, env: dict[str, str]) -> tuple[float, float, int, dict[str, Any]]:
    """Wall seconds, CPU seconds, peak RSS (KiB) and the video's record."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _PEAK, "scan", "--json", str(clip)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:] + result.stdout[-2000:])
    peak = next(
        int(line.split("=")[1])
        for line in result.stderr.splitlines()
        if line.startswith("PEAK_RSS_KB=")
    )
    report = json.loads(result.stdout)
    return wall, cpu, peak, {**report["images"][0], "timings": report["timings"]}


def _checks(record: dict[str, Any], truth: list[Appearance]) -> dict[str, Any]:
    tracks = record["tracks"]
    found, misses = 0, []
    for appearance in truth:
        if appearance.label not in TALENTS:
            continue
        named = [
            t
            for t in tracks
            if t["talent"]
            and t["talent"]["name"] == appearance.label
            and t["start_s"] < appearance.end_s
            and t["end_s"] > appearance.start_s
        ]
        ok = len(named) == 1 and (
            abs(named[0]["start_s"] - appearance.start_s) <= TOLERANCE_S
            and abs(named[0]["end_s"] - appearance.end_s) <= TOLERANCE_S
        )
        found += ok
        if not ok:
            misses.append({"truth": appearance.__dict__, "tracks": named})
    matched = {t["talent"]["name"] for t in tracks if t["talent"]}
    return {
        "appearances": sum(1 for a in truth if a.label in TALENTS),
        "found_within_tolerance": found,
        "misses": misses,
        "strangers_matched": sorted(matched - set(TALENTS)),
        "tracks": len(tracks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sizes", default="720,1080")
    parser.add_argument("--clips", type=Path, default=None, help="keep the clips here")
    args = parser.parse_args()
    people = lfw_people(require_shared_faces("lfw"), 3, photos=3)
    shots = script(people, args.seconds)
    truth = appearances(shots)
    facts = machine_facts()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="twinwatch-video-") as tmp:
        clips_dir = args.clips or Path(tmp)
        clips_dir.mkdir(parents=True, exist_ok=True)
        data_dir = Path(tmp) / "var"
        _register(data_dir, people)
        env = {**os.environ, "TWINWATCH_DATA_DIR": str(data_dir)}
        env.setdefault(
            "TWINWATCH_MODEL_CACHE_DIR", str(bench_settings().resolved_model_cache_dir())
        )
        for height in (int(s) for s in args.sizes.split(",")):
            clip = clips_dir / f"bench-{height}p30-{args.seconds:g}s.mp4"
            if not clip.exists():
                encode(shots, clip, size=SIZES[height], fps=30)
            wall, cpu, peak_kb, record = _scan_process(clip, env)
            rows.append(
                {
                    "clip": clip.name,
                    "bytes": clip.stat().st_size,
                    "duration_s": record["duration_s"],
                    "samples": record["samples"],
                    "process_s": round(wall, 2),
                    "x_real_time": round(record["duration_s"] / wall, 1),
                    "cpu_s": round(cpu, 2),
                    "x_real_time_per_cpu_s": round(record["duration_s"] / cpu, 1),
                    "stages": record["timings"],
                    "peak_rss_mb": round(peak_kb / 1024),
                    "checks": _checks(record, truth),
                    "track_list": record["tracks"],
                }
            )
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "track_list"}))
    truth_rows = [a.__dict__ for a in truth]
    write_results(
        "video", {"facts": facts, "truth": truth_rows, "runs": rows}, _markdown(facts, rows)
    )


def _markdown(facts: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    table = md_table(
        [
            "clip",
            "samples",
            "process s",
            "× real time",
            "CPU s",
            "peak RSS MB",
            "found",
            "strangers",
        ],
        [
            [
                r["clip"],
                r["samples"],
                r["process_s"],
                r["x_real_time"],
                r["cpu_s"],
                r["peak_rss_mb"],
                f"{r['checks']['found_within_tolerance']}/{r['checks']['appearances']}",
                len(r["checks"]["strangers_matched"]),
            ]
            for r in rows
        ],
    )
    return "\n\n".join(
        ["## Video (`twinwatch scan --json`, whole process)", facts_line(facts), table]
    )


if __name__ == "__main__":
    run_main(main)
