"""Speed (issues #4 §5, #11): images/second, per-stage latency, scaling, profile, pure inference.

    python -m bench.speed [--rounds 2] [--process-rounds 3]

* **Whole process, interleaved** (issue #11): ``twinwatch scan --json`` on the scene photos
  (61 files, a registry of the 13 scene identities), process start and model load
  included, run as the product (``inference_workers`` = cores, 1-thread non-spinning
  sessions, prepared models), as the previous release's configuration (one worker,
  2 intra-op threads, spinning on) and as the naive single-pass baseline
  (``bench.naive``: YuNet + SFace once per face, onnxruntime defaults), in turn, round
  after round (the machine is shared: only ratios within one run mean much). Reports
  images/s, CPU ms per image, the ratio to the baseline, and checks that the product and
  the previous configuration find the same faces, talents and bands.

One process, the product's settings (onnxruntime 2 intra-op threads, FAISS 1 thread).
Registry: the 13 scene identities (one reference each) plus 10,000 filler talents with
random unit vectors, in the product's tables, searched with ``IndexManager`` (flat index).

* **End to end**: ``scan_bytes`` on every scene photo (61, 330-4,600 px), ``rounds`` times
  after a warm-up; stages from the product's own ``ScanTimings`` (decode, detect,
  align+embed, search) plus the licence check (``service.licensing.evaluate.evaluate_licences`` on a
  talent with 5 licences, for every face assigned a talent) when that module exists.
* **Pure inference**: every ``session.run`` the pipeline makes is recorded (input shape);
  right after each image the same calls are replayed on the bare onnxruntime sessions
  (random input of the same shapes). Overhead = pipeline time / pure inference time, both
  measured in the same run, interleaved image by image (the machine is shared).
* **Scaling**: one photo resized to 320-4,096 px (longer side); synthetic canvases with
  1-16 faces.
* **Profile**: cProfile over one pass; the top functions by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import (
    RESULTS_DIR,
    bench_settings,
    engine_variant,
    facts_line,
    fmt,
    load_bench_engine,
    machine_facts,
    md_table,
    require_shared_faces,
    run_main,
    write_results,
)
from bench.open_set import ProductGallery
from bench.scenes import scene_photos
from indexer.engine import FaceEngine
from indexer.imaging import decode_image
from indexer.modelpack.store import pack_directory, prepare_pack
from indexer.registry import PhotoInput
from indexer.runtime import open_runtime
from indexer.scanning import ImageScan, ScanTimings, scan_bytes

FILLER_TALENTS = 10_000
LICENCES_PER_TALENT = 5


# --- session recording ------------------------------------------------------------------------
@dataclass
class RecordingSession:
    """Wraps an onnxruntime session: records each call's input shapes and time."""

    session: Any
    calls: list[tuple[tuple[int, ...], ...]] = field(default_factory=list)
    seconds: float = 0.0

    def run(self, output_names: Any, feeds: dict[str, np.ndarray], *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.session.run(output_names, feeds, *args)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls.append(tuple(np.asarray(v).shape for v in feeds.values()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)

    def take(self) -> tuple[list[tuple[tuple[int, ...], ...]], float]:
        calls, seconds = self.calls, self.seconds
        self.calls, self.seconds = [], 0.0
        return calls, seconds


def replay(
    session: Any, calls: list[tuple[tuple[int, ...], ...]], rng: np.random.Generator
) -> float:
    """Time the same calls on the bare session (inputs random, shapes identical)."""
    names = [i.name for i in session.get_inputs()]
    total = 0.0
    for shapes in calls:
        feeds = {
            name: rng.random(shape, dtype=np.float32) * 255
            for name, shape in zip(names, shapes, strict=True)
        }
        started = time.perf_counter()
        session.run(None, feeds)
        total += time.perf_counter() - started
    return total


# --- licence stage (pluggable) ----------------------------------------------------------------
LicenceCheck = Callable[[int], Any]


def licence_stage() -> tuple[LicenceCheck | None, str]:
    """A callable judging one sighting of a talent with 5 licences, or None and why."""
    try:
        from service.licensing import evaluate as lic
    except ImportError as exc:
        return None, f"service.licensing.evaluate not importable ({exc}); stage not timed"
    base = datetime(2026, 1, 1, tzinfo=UTC)
    phash = "0f0f0f0f0f0f0f0f"
    licences = [
        lic.LicenceTerms(
            id=i + 1,
            talent_id=1,
            licensee=f"Brand {i}",
            publishers=(f"brand{i}.example", f"*.brand{i}.example", f"instagram.com/brand{i}"),
            channels=("social", "ecommerce") if i % 2 else ("*",),
            territories=("GB", "FR", "DE"),
            valid_from=base + timedelta(days=30 * i),
            valid_until=base + timedelta(days=400),
            media=(lic.Medium.PHOTO,) if i != 4 else (lic.Medium.AI_REPLICA,),
            ai_label_required=i == 4,
            approved_assets=(lic.AssetFingerprint(sha256="ab" * 32, phash="f0f0f0f0f0f0f0f0"),)
            if i == 3
            else (),
        )
        for i in range(LICENCES_PER_TALENT)
    ]
    context = lic.UsageContext(
        page_url="https://www.shop.brand2.example/new/summer?utm=1",
        publisher=None,
        observed_at=base + timedelta(days=200),
        channel="ecommerce",
        territory="FR",
        image=lic.ImageFacts(sha256="cd" * 32, phash=phash, declares_ai=False, ai_label=None),
    )

    def check(_talent_id: int) -> Any:
        return lic.evaluate_licences(licences=licences, context=context)

    return check, f"service.licensing.evaluate.evaluate_licences, {LICENCES_PER_TALENT} licences"


# --- whole process, interleaved ------------------------------------------------------------------
PROCESS_CONFIGS: dict[str, dict[str, str]] = {
    "product": {},
    "previous release": {
        "TWINWATCH_INFERENCE_WORKERS": "1",
        "TWINWATCH_ORT_INTRA_OP_THREADS": "2",
        "TWINWATCH_ORT_ALLOW_SPINNING": "true",
    },
    "naive baseline": {},
}


def _cli_registry(engine: FaceEngine, data_dir: Path) -> None:
    """A data folder with the 13 scene identities registered from their first photo."""
    from service.migrations.startup import prepare_schema  # the schema `twinwatch` expects

    settings = bench_settings(data_dir=data_dir)
    runtime = open_runtime(settings, analyser=engine, prepare_schema=prepare_schema)
    try:
        agency = runtime.registry.ensure_agency(name="Scenes")
        for identity, files in scene_photos().items():
            talent, _ = runtime.registry.ensure_talent(agency_id=agency.id, name=identity)
            runtime.registry.enrol_photos(
                talent_id=talent.id, photos=[PhotoInput(files[0].name, files[0].read_bytes())]
            )
    finally:
        runtime.close()


PASSES = 4  # the folder is given this many times per process (244 images, as web batches)


def _run_process(
    name: str, folder: Path, env: dict[str, str], inputs: list[str] | None = None
) -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds and parsed output of one whole process (on the folder
    ``PASSES`` times, or on ``inputs``)."""
    folders = inputs or [str(folder)] * PASSES
    if name == "naive baseline":
        command = [sys.executable, "-m", "bench.naive", *folders]
    else:
        command = [
            sys.executable,
            "-c",
            "from service.cli import main; main()",
            "scan",
            "--json",
            *folders,
        ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        command, capture_output=True, text=True, check=False, env={**env, **PROCESS_CONFIGS[name]}
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed: {result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(result.stdout)


def _verdicts(report: Any) -> list[tuple[str, int, str, int | None]]:
    return [
        (
            Path(image["path"]).name,
            len(image["faces"]),
            face["band"],
            face["talent"]["id"] if face["talent"] else None,
        )
        for image in report["images"]
        for face in image["faces"]
    ]


def whole_process(engine: FaceEngine, rounds: int) -> dict[str, Any]:
    settings = bench_settings()
    prepare_pack(engine.manifest, settings)  # what `twinwatch models pull` does
    folder = require_shared_faces("scenes")
    photos = PASSES * sum(len(files) for files in scene_photos().values())
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in PROCESS_CONFIGS}
    outputs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="twinwatch-speed-cli-") as tmp:
        _cli_registry(engine, Path(tmp))
        env = {
            **os.environ,
            "TWINWATCH_DATA_DIR": tmp,
            "TWINWATCH_MODEL_CACHE_DIR": str(pack_directory(engine.manifest, settings).parent),
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
        for name in PROCESS_CONFIGS:  # warm the page cache once
            _run_process(name, folder, env)
        one_photo = [str(min(folder.rglob("*.jpg")))]
        starts = [_run_process("product", folder, env, one_photo)[:2] for _ in range(3)]
        for round_number in range(rounds):
            for name in PROCESS_CONFIGS:
                wall, cpu, output = _run_process(name, folder, env)
                runs[name].append((wall, cpu))
                outputs[name] = output
                print(
                    f"  round {round_number + 1} {name}: {photos / wall:.2f} images/s", flush=True
                )
    figures: dict[str, dict[str, Any]] = {}
    for name, measured in runs.items():
        walls = [w for w, _ in measured]
        cpus = [c for _, c in measured]
        figures[name] = {
            "images_per_s": photos / statistics.median(walls),
            "images_per_s_range": [photos / max(walls), photos / min(walls)],
            "cpu_ms_per_image": 1e3 * statistics.median(cpus) / photos,
            "wall_s": walls,
        }
    naive = figures["naive baseline"]["images_per_s"]
    for values in figures.values():
        values["vs_naive"] = values["images_per_s"] / naive
    product, previous = outputs["product"], outputs["previous release"]
    timings = product["timings"]
    return {
        "photos": photos,
        "rounds": rounds,
        "load_average": os.getloadavg(),
        "configs": figures,
        "product_over_previous": (
            figures["product"]["images_per_s"] / figures["previous release"]["images_per_s"]
        ),
        "same_verdicts_as_previous": _verdicts(product) == _verdicts(previous),
        "one_photo_process": {
            "wall_s": statistics.median(w for w, _ in starts),
            "cpu_s": statistics.median(c for _, c in starts),
        },
        "faces": {
            "product": sum(len(i["faces"]) for i in product["images"]),
            "naive": outputs["naive baseline"]["faces"],
        },
        "product_stage_ms_per_image": {
            key: 1e3 * timings[key] / photos
            for key in ("decode_s", "detect_s", "embed_s", "search_s")
        },
    }


def whole_process_md(w: dict[str, Any]) -> str:
    rows = [
        [
            name,
            fmt(v["images_per_s"], 2),
            f"{fmt(v['images_per_s_range'][0], 2)}-{fmt(v['images_per_s_range'][1], 2)}",
            fmt(v["cpu_ms_per_image"], 0),
            f"{fmt(v['vs_naive'], 2)}x",
        ]
        for name, v in w["configs"].items()
    ]
    stages = ", ".join(
        f"{k.removesuffix('_s')} {fmt(v, 1)}" for k, v in w["product_stage_ms_per_image"].items()
    )
    load = ", ".join(f"{x:.1f}" for x in w["load_average"])
    return "\n".join(
        [
            "### Whole process, interleaved (`twinwatch scan --json`, issue #11)",
            "",
            f"{w['photos']} scans per process (the {w['photos'] // PASSES} scene photos "
            f"{PASSES} times), {w['rounds']} rounds interleaved, process "
            f"start and model load included; load average at the end {load}.",
            "",
            md_table(
                [
                    "configuration",
                    "images/s (median)",
                    "range",
                    "CPU ms/image",
                    "vs naive baseline",
                ],
                rows,
            ),
            "",
            f"Product / previous release: **{fmt(w['product_over_previous'], 2)}x**; same faces, "
            f"talents and bands as the previous configuration: {w['same_verdicts_as_previous']}; "
            f"faces found: product {w['faces']['product']}, naive {w['faces']['naive']}. "
            f"Product stage time per image (summed over workers, ms): {stages}. A product "
            f"process scanning one photo (start-up, model load, one scan; median of 3) takes "
            f"{fmt(w['one_photo_process']['wall_s'], 2)} s "
            f"({fmt(w['one_photo_process']['cpu_s'], 2)}"
            " CPU s).",
        ]
    )


# --- the registry -----------------------------------------------------------------------------
def speed_gallery(engine: FaceEngine, directory: Path) -> ProductGallery:
    photos = scene_photos()
    references = {}
    for identity, files in photos.items():
        faces = engine.analyse(decode_image(files[0].read_bytes(), max_pixels=10**9).bgr)
        if faces:
            largest = max(faces, key=lambda f: f.width * f.height)
            references[identity] = largest.embedding[None]
    rng = np.random.default_rng(7)
    filler = rng.normal(size=(FILLER_TALENTS, engine.pack.embedding_size)).astype(np.float32)
    filler /= np.linalg.norm(filler, axis=1, keepdims=True)
    references.update({f"filler-{i}": filler[i : i + 1] for i in range(FILLER_TALENTS)})
    gallery = ProductGallery(engine, bench_settings(), directory)
    gallery.register(references)
    return gallery


@dataclass
class Measured:
    wall_s: float = 0.0
    timings: ScanTimings = field(default_factory=ScanTimings)
    licence_s: float = 0.0
    licence_checks: int = 0
    detector_calls: int = 0
    recognizer_calls: int = 0
    detector_in_pipeline_s: float = 0.0
    recognizer_in_pipeline_s: float = 0.0
    detector_pure_s: float = 0.0
    recognizer_pure_s: float = 0.0
    images: int = 0
    per_image_s: list[float] = field(default_factory=list)


class Harness:
    def __init__(
        self, engine: FaceEngine, gallery: ProductGallery, licence: LicenceCheck | None
    ) -> None:
        self.engine = engine
        self.gallery = gallery
        self.licence = licence
        self.det = RecordingSession(engine.detector.session)
        self.rec = RecordingSession(engine.recognizer.session)
        self.rng = np.random.default_rng(0)

    def __enter__(self) -> Harness:
        self.engine.detector.session = self.det
        self.engine.recognizer.session = self.rec
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.detector.session = self.det.session
        self.engine.recognizer.session = self.rec.session

    def scan(self, data: bytes, measured: Measured, *, pure: bool = True) -> ImageScan:
        started = time.perf_counter()
        result = scan_bytes(
            data,
            analyser=self.engine,
            index=self.gallery.index,
            max_pixels=10**9,
            candidates_per_face=3,
        )
        licence_s = 0.0
        if self.licence is not None:
            licence_started = time.perf_counter()
            for face in result.faces:
                if face.talent is not None:
                    self.licence(face.talent.talent_id)
                    measured.licence_checks += 1
            licence_s = time.perf_counter() - licence_started
        elapsed = time.perf_counter() - started
        measured.wall_s += elapsed
        measured.per_image_s.append(elapsed)
        measured.licence_s += licence_s
        measured.timings.add(result.timings)
        measured.images += 1
        det_calls, det_s = self.det.take()
        rec_calls, rec_s = self.rec.take()
        measured.detector_calls += len(det_calls)
        measured.recognizer_calls += len(rec_calls)
        measured.detector_in_pipeline_s += det_s
        measured.recognizer_in_pipeline_s += rec_s
        if pure:
            measured.detector_pure_s += replay(self.det.session, det_calls, self.rng)
            measured.recognizer_pure_s += replay(self.rec.session, rec_calls, self.rng)
        return result


def summary(m: Measured) -> dict[str, Any]:
    t = m.timings
    pure = m.detector_pure_s + m.recognizer_pure_s
    in_pipeline = m.detector_in_pipeline_s + m.recognizer_in_pipeline_s
    return {
        "images": m.images,
        "faces": t.faces,
        "wall_s": m.wall_s,
        "images_per_s": m.images / m.wall_s if m.wall_s else None,
        "ms_per_image": {
            "decode": 1e3 * t.decode_s / m.images,
            "detect": 1e3 * t.detect_s / m.images,
            "align_embed": 1e3 * t.embed_s / m.images,
            "search": 1e3 * t.search_s / m.images,
            "licence": 1e3 * m.licence_s / m.images,
            "total": 1e3 * m.wall_s / m.images,
        },
        "ms_per_face": {
            "align_embed": 1e3 * t.embed_s / t.faces if t.faces else None,
            "search": 1e3 * t.search_s / t.faces if t.faces else None,
            "licence_check": (1e3 * m.licence_s / m.licence_checks if m.licence_checks else None),
        },
        "median_ms_per_image": 1e3 * statistics.median(m.per_image_s),
        "detector_calls": m.detector_calls,
        "recognizer_calls": m.recognizer_calls,
        "inference_in_pipeline_s": in_pipeline,
        "pure_inference_s": pure,
        "detector_pure_s": m.detector_pure_s,
        "recognizer_pure_s": m.recognizer_pure_s,
        "detector_in_pipeline_s": m.detector_in_pipeline_s,
        "recognizer_in_pipeline_s": m.recognizer_in_pipeline_s,
        "pipeline_over_pure_inference": m.wall_s / pure if pure else None,
        "pipeline_minus_pure_ms_per_image": 1e3 * (m.wall_s - pure) / m.images,
    }


# --- synthetic inputs ---------------------------------------------------------------------------
def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def resized_versions(path: Path, sides: list[int]) -> dict[int, bytes]:
    image = Image.open(path).convert("RGB")
    out = {}
    for side in sides:
        scale = side / max(image.size)
        size = (round(image.width * scale), round(image.height * scale))
        out[side] = jpeg(image.resize(size, Image.Resampling.LANCZOS))
    return out


def face_canvases(engine: FaceEngine, counts: list[int]) -> dict[int, bytes]:
    """1920x1080 canvases with k face crops (from the scene photos) on a grid."""
    crops = []
    for files in scene_photos().values():
        for path in files[:2]:
            image = Image.open(path).convert("RGB")
            faces = engine.analyse(decode_image(path.read_bytes(), max_pixels=10**9).bgr)
            if faces:
                x1, y1, x2, y2 = max(faces, key=lambda f: f.width * f.height).box
                w, h = x2 - x1, y2 - y1
                crops.append(
                    image.crop(
                        (
                            round(x1 - 0.4 * w),
                            round(y1 - 0.4 * h),
                            round(x2 + 0.4 * w),
                            round(y2 + 0.4 * h),
                        )
                    )
                )
    out = {}
    for count in counts:
        columns = int(np.ceil(np.sqrt(count * 16 / 9)))
        rows = int(np.ceil(count / columns))
        cell = min(1920 // columns, 1080 // rows)
        canvas = Image.new("RGB", (1920, 1080), (90, 90, 90))
        for i in range(count):
            crop = crops[i % len(crops)].resize((cell - 8, cell - 8), Image.Resampling.LANCZOS)
            canvas.paste(crop, ((i % columns) * cell + 4, (i // columns) * cell + 4))
        out[count] = jpeg(canvas)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--flip",
        choices=("pack", "on", "off"),
        default="pack",
        help="flip fusion: as the pack's manifest says (default), on or off",
    )
    parser.add_argument("--name", default="speed", help="result file name")
    parser.add_argument("--process-rounds", type=int, default=3)
    args = parser.parse_args()
    facts = machine_facts()
    # One image at a time on one thread (no recognizer helpers), so the pipeline's time and
    # the replayed pure inference are the same work.
    settings = bench_settings(inference_workers=1)
    engine = load_bench_engine(settings)
    processes = whole_process(engine, args.process_rounds)
    if args.flip != "pack":
        engine = engine_variant(engine, flip_fusion=args.flip == "on")
    licence, licence_note = licence_stage()
    photos = [p for files in scene_photos().values() for p in files]
    blobs = [p.read_bytes() for p in photos]
    sized = resized_versions(photos[2], [320, 640, 1280, 2560, 4096])
    canvases = face_canvases(engine, [1, 2, 4, 8, 16])  # before recording starts
    with tempfile.TemporaryDirectory(prefix="twinwatch-speed-") as tmp:
        gallery = speed_gallery(engine, Path(tmp))
        try:
            with Harness(engine, gallery, licence) as harness:
                warm = Measured()
                for data in blobs[:3]:
                    harness.scan(data, warm, pure=True)
                main_run = Measured()
                for _ in range(args.rounds):
                    for data in blobs:
                        harness.scan(data, main_run)
                print(f"  end to end: {main_run.images / main_run.wall_s:.2f} images/s", flush=True)
                size_runs = {}
                for side, data in sized.items():
                    m = Measured()
                    for _ in range(3):
                        harness.scan(data, m)
                    size_runs[side] = summary(m)
                face_runs = {}
                for count, data in canvases.items():
                    m = Measured()
                    for _ in range(2):
                        result = harness.scan(data, m)
                    face_runs[count] = {**summary(m), "faces_found": len(result.faces)}
                profiler = cProfile.Profile()
                profiled = Measured()
                profiler.enable()
                for data in blobs:
                    harness.scan(data, profiled, pure=False)
                profiler.disable()
            index_kind = str(gallery.index.stats()["kind"])
        finally:
            gallery.close()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream).sort_stats("tottime")
    stats.print_stats(25)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{args.name}_profile.txt").write_text(stream.getvalue(), encoding="utf-8")
    top = _top_functions(stats, 12)
    end_to_end = summary(main_run)
    stage = end_to_end["ms_per_image"]
    results: dict[str, Any] = {
        "benchmark": "speed",
        "facts": facts,
        "pack": engine.manifest.ref,
        "threads": {
            "onnxruntime_intra_op": settings.ort_intra_op_threads,
            "faiss": settings.faiss_threads,
        },
        "gallery": {"talents": FILLER_TALENTS + 13, "index": index_kind},
        "licence_stage": licence_note,
        "rounds": args.rounds,
        "end_to_end": end_to_end,
        "by_image_size": size_runs,
        "by_face_count": face_runs,
        "profile_top": top,
        "profile_file": str(RESULTS_DIR / f"{args.name}_profile.txt"),
        "flip_fusion": engine.manifest.recognizer.flip_fusion,
        "whole_process": processes,
    }
    e = end_to_end
    rows = [
        [name, fmt(ms, 1), f"{100 * ms / stage['total']:.0f}%"]
        for name, ms in stage.items()
        if name != "total"
    ]
    rows.append(["**total (wall)**", fmt(stage["total"], 1), "100%"])
    size_rows = [
        [
            side,
            s["faces"] // s["images"],
            fmt(s["ms_per_image"]["decode"], 1),
            fmt(s["ms_per_image"]["detect"], 1),
            fmt(s["ms_per_image"]["align_embed"], 1),
            fmt(s["ms_per_image"]["total"], 1),
            fmt(s["pipeline_over_pure_inference"], 2),
        ]
        for side, s in size_runs.items()
    ]
    face_rows = [
        [
            count,
            s["faces_found"],
            fmt(s["ms_per_image"]["detect"], 1),
            fmt(s["ms_per_image"]["align_embed"], 1),
            fmt(s["ms_per_face"]["align_embed"], 1),
            fmt(s["ms_per_image"]["search"], 2),
            fmt(s["ms_per_image"]["total"], 1),
        ]
        for count, s in face_runs.items()
    ]
    md = "\n".join(
        [
            f"## Speed — {engine.manifest.ref}, flip fusion "
            f"{'on' if engine.manifest.recognizer.flip_fusion else 'off'}",
            "",
            facts_line(facts),
            "",
            whole_process_md(processes),
            "",
            "### In one process, one image at a time",
            "",
            f"One process, onnxruntime {settings.ort_intra_op_threads} intra-op threads, FAISS "
            f"{settings.faiss_threads} thread; registry of {FILLER_TALENTS + 13:,} talents "
            f"({index_kind} index). {e['images']} scans of the {len(photos)} scene photos "
            f"(330-4,600 px, {e['faces']} faces), {args.rounds} rounds after a warm-up. "
            "Licence stage: "
            f"{licence_note}.",
            "",
            f"**{fmt(e['images_per_s'], 2)} images/s** end to end "
            f"({fmt(stage['total'], 0)} ms mean, {fmt(e['median_ms_per_image'], 0)} ms median per "
            f"image); align+embed {fmt(e['ms_per_face']['align_embed'], 1)} ms per face, search "
            f"{fmt(e['ms_per_face']['search'], 2)} ms per face, licence check "
            f"{fmt(e['ms_per_face']['licence_check'], 3)} ms per assigned face.",
            "",
            md_table(["stage", "ms per image", "share"], rows),
            "",
            f"**Pure onnxruntime inference** (the same {e['detector_calls']} detector and "
            f"{e['recognizer_calls']} recognizer calls replayed on the bare sessions, "
            "interleaved): "
            f"{fmt(1e3 * e['pure_inference_s'] / e['images'], 1)} ms per image "
            f"(detector {fmt(1e3 * e['detector_pure_s'] / e['images'], 1)}, recognizer "
            f"{fmt(1e3 * e['recognizer_pure_s'] / e['images'], 1)}). The pipeline takes "
            f"**{fmt(e['pipeline_over_pure_inference'], 2)}x** pure inference "
            f"(+{fmt(e['pipeline_minus_pure_ms_per_image'], 1)} ms per image: decode, resize/pad, "
            "pre/post-processing, NMS, alignment, search, licence check); inference inside the "
            f"pipeline took {fmt(1e3 * e['inference_in_pipeline_s'] / e['images'], 1)} ms per "
            "image.",
            "",
            "### Scaling with image size (one photo, one face, resized)",
            "",
            md_table(
                [
                    "longer side px",
                    "faces",
                    "decode ms",
                    "detect ms",
                    "align+embed ms",
                    "total ms",
                    "x pure inference",
                ],
                size_rows,
            ),
            "",
            "### Scaling with face count (1920x1080 canvas)",
            "",
            md_table(
                [
                    "faces placed",
                    "faces found",
                    "detect ms",
                    "align+embed ms",
                    "align+embed ms/face",
                    "search ms",
                    "total ms",
                ],
                face_rows,
            ),
            "",
            "### Where the time goes (cProfile, one pass, by own time)",
            "",
            md_table(
                ["function", "calls", "own s", "cumulative s"],
                [
                    [f"`{t['function']}`", t["calls"], fmt(t["own_s"], 2), fmt(t["cum_s"], 2)]
                    for t in top
                ],
            ),
            "",
            f"Full profile: `{RESULTS_DIR.name}/{args.name}_profile.txt`.",
        ]
    )
    write_results(args.name, results, md)


def _top_functions(stats: pstats.Stats, count: int) -> list[dict[str, Any]]:
    rows = []
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, line, name), (_cc, calls, own, cum, _callers) in entries.items():
        rows.append(
            {
                "function": f"{Path(filename).name}:{line}({name})",
                "calls": calls,
                "own_s": own,
                "cum_s": cum,
            }
        )
    rows.sort(key=lambda r: -r["own_s"])
    return rows[:count]


if __name__ == "__main__":
    run_main(main)
