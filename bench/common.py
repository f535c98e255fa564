"""Shared plumbing for the benchmarks: data paths, engines, result files, machine facts."""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from indexer.engine import FaceEngine, load_engine
from indexer.modelpack.recognizers import ArcFaceRecognizer
from indexer.settings import PROJECT_ROOT as PROJECT_ROOT  # re-exported for the benchmarks
from indexer.settings import IndexerSettings

RESULTS_DIR = Path(os.environ.get("TWINWATCH_BENCH_RESULTS", PROJECT_ROOT / "bench" / "results"))
CACHE_DIR = RESULTS_DIR / "cache"
SHARED_FACES = Path(
    os.environ.get("TWINWATCH_SHARED_FACES", PROJECT_ROOT.parent / "shared" / "faces")
)
SKIP_EXIT = 0  # a skipped benchmark is not a failure (fresh clones lack the shared photos)


class BenchSkipError(Exception):
    """Raised when a benchmark's data or optional dependency is missing."""


def require_shared_faces(*parts: str) -> Path:
    """The shared face folder (or a part of it); BenchSkipError with the reason if absent."""
    path = SHARED_FACES.joinpath(*parts)
    if not path.exists():
        raise BenchSkipError(
            f"shared face photos not found at {path}. Set TWINWATCH_SHARED_FACES to the folder "
            "that holds lfw/, lfw_pairs_dev.txt and scenes/ (see its README.md)."
        )
    return path


def run_main(main: Any) -> None:
    """Run a benchmark's main(); a missing dataset or extra prints why and exits 0."""
    # the benchmarks' registries are temporary: "rebuilding the index" is expected there
    logging.getLogger("indexer.index_manager").setLevel(logging.ERROR)
    try:
        main()
    except BenchSkipError as exc:
        print(f"SKIPPED: {exc}")
        sys.exit(SKIP_EXIT)


def bench_settings(**overrides: Any) -> IndexerSettings:
    """Settings from the environment; the model cache defaults to the repo's var/models."""
    settings = IndexerSettings(**overrides)
    if settings.model_cache_dir is None and not settings.data_dir.is_absolute():
        settings = settings.model_copy(
            update={"model_cache_dir": PROJECT_ROOT / settings.data_dir / "models"}
        )
    return settings


def load_bench_engine(
    settings: IndexerSettings | None = None, pack: str | None = None
) -> FaceEngine:
    return load_engine(settings or bench_settings(), pack)


def engine_variant(
    engine: FaceEngine, *, flip_fusion: bool | None = None, refine: bool | None = None
) -> FaceEngine:
    """The same loaded pack with flip fusion / landmark refinement switched (sessions shared).

    Only the manifest fields change; the detector and recognizer classes are the product's.
    """
    manifest = engine.manifest
    detector_spec = manifest.detector
    recognizer_spec = manifest.recognizer
    if refine is not None:
        default_px = detector_spec.refine_face_px or 200
        detector_spec = detector_spec.model_copy(
            update={"refine_face_px": default_px if refine else None}
        )
    if flip_fusion is not None:
        recognizer_spec = recognizer_spec.model_copy(update={"flip_fusion": flip_fusion})
    new_manifest = manifest.model_copy(
        update={"detector": detector_spec, "recognizer": recognizer_spec}
    )
    detector = type(engine.detector)(detector_spec, engine.detector.model, engine.detector.sessions)
    detector.session = engine.detector.session
    recognizer = ArcFaceRecognizer(
        recognizer_spec, engine.recognizer.model, engine.recognizer.sessions
    )
    recognizer.session = engine.recognizer.session
    return FaceEngine(new_manifest, detector, recognizer, max_faces=engine.max_faces)


def cache_key(engine: FaceEngine) -> str:
    """Cache folder name: pack, version and the two model hashes (never stale embeddings)."""
    m = engine.manifest
    return f"{m.name}-{m.version}-{m.detector.sha256[:8]}-{m.recognizer.sha256[:8]}"


# --- machine facts --------------------------------------------------------------------------
def machine_facts() -> dict[str, Any]:
    import faiss
    import onnxruntime

    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                check=False,
                timeout=10,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "time_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cpus_visible": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "onnxruntime": onnxruntime.__version__,
        "faiss": faiss.__version__,
        "numpy": np.__version__,
    }


# --- results --------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_results(name: str, data: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write bench/results/<name>.json and .md, print the Markdown summary."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS_DIR / f"{name}.json"
    md_path = RESULTS_DIR / f"{name}.md"
    json_path.write_text(json.dumps(_jsonable(data), indent=2) + "\n", encoding="utf-8")
    md_path.write_text(markdown.rstrip() + "\n", encoding="utf-8")
    print(markdown)
    print(f"\nwrote {json_path} and {md_path}")
    return json_path, md_path


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        return "-" if value is None else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def facts_line(facts: dict[str, Any]) -> str:
    return (
        f"_{facts['date']}, commit {facts['commit']}, Python {facts['python']}, "
        f"onnxruntime {facts['onnxruntime']}, faiss {facts['faiss']}, "
        f"{facts['cpus_visible']} CPUs visible, load average {facts['load_average_1m']} "
        "at the start (the machine is shared: compare ratios measured in the same run)._"
    )


def pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{100 * value:.{digits}f}%"


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


@dataclass
class Stopwatch:
    seconds: float = 0.0

    @contextmanager
    def timing(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - started


def progress(done: int, total: int, started: float, label: str) -> None:
    elapsed = time.perf_counter() - started
    rate = done / elapsed if elapsed else 0.0
    eta = (total - done) / rate if rate else 0.0
    print(f"  {label}: {done}/{total} ({rate:.1f}/s, ~{eta:.0f}s left)", flush=True)
