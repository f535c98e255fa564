"""A peer side by side (issue #4 §7): the ``face_recognition`` library (dlib) vs twinwatch.

    make bench-deps && python -m bench.peer [--timing-images 300]

Peer: ``face_recognition`` 1.3 defaults — dlib HOG detector (``number_of_times_to_upsample=1``),
5-point landmarks, dlib ResNet 128-d encodings (``num_jitters=1``), Euclidean distance,
tolerance 0.6 (its documented default). Published LFW accuracy of the dlib model: 99.38%.

* **LFW pairs** (the same ``lfw_pairs_dev.txt`` protocol and code as ``bench.verification``):
  the peer's face nearest the image centre; where dlib finds no face, the central half of
  the image is used as the face box (counted and reported). Peer encodings are cached.
* **Scenes**: each identity registered from the same reference photo as ours, the other
  photos scanned; a face is assigned the nearest registered identity within tolerance.
  Large photos are shrunk to 1,280 px on the longer side for the peer (HOG with upsampling
  on a 13-megapixel photo takes tens of seconds; this favours the peer's speed).
* **Time per image**, measured in this process, interleaved image by image with ours
  (``FaceEngine.analyse``: detect + align + embed every face; both start from the same
  decoded pixels): on LFW pair images and on the scene photos. Reported as a ratio.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    CACHE_DIR,
    BenchSkipError,
    facts_line,
    fmt,
    load_bench_engine,
    machine_facts,
    md_table,
    pct,
    progress,
    run_main,
    write_results,
)
from bench.lfw import image_path, lfw_root, load_embeddings, read_pairs
from bench.plots import roc_plot
from bench.scenes import scene_photos, subject_annotations
from bench.verification import pair_scores as our_pair_scores
from bench.verification import verification_figures
from indexer.engine import FaceEngine
from indexer.imaging import decode_image

PEER_TOLERANCE = 0.6
PEER_MAX_SIDE = 1280
PUBLISHED_PEER_LFW = 0.9938


def _face_recognition() -> Any:
    try:
        import face_recognition
    except ImportError as exc:
        raise BenchSkipError(
            f"the peer library is not installed ({exc}); run `make bench-deps` "
            "(face_recognition --no-deps + dlib-bin + face_recognition_models)"
        ) from exc
    return face_recognition


class Peer:
    def __init__(self) -> None:
        self.fr = _face_recognition()

    def faces(self, rgb: np.ndarray) -> tuple[list[tuple[int, int, int, int]], np.ndarray]:
        """(boxes as x1, y1, x2, y2, encodings) for every face dlib finds."""
        locations = self.fr.face_locations(rgb, number_of_times_to_upsample=1, model="hog")
        encodings = self.fr.face_encodings(
            rgb, known_face_locations=locations, num_jitters=1, model="small"
        )
        boxes = [(left, top, right, bottom) for top, right, bottom, left in locations]
        return boxes, np.array(encodings).reshape(len(boxes), 128)

    def central_encoding(self, rgb: np.ndarray) -> tuple[np.ndarray, bool]:
        h, w = rgb.shape[:2]
        locations = self.fr.face_locations(rgb, number_of_times_to_upsample=1, model="hog")
        found = bool(locations)
        if found:
            centre = np.array([w / 2, h / 2])
            location = min(
                locations,
                key=lambda loc: float(
                    np.linalg.norm(
                        [(loc[1] + loc[3]) / 2 - centre[0], (loc[0] + loc[2]) / 2 - centre[1]]
                    )
                ),
            )
        else:
            location = (h // 4, 3 * w // 4, 3 * h // 4, w // 4)
        encoding = self.fr.face_encodings(
            rgb, known_face_locations=[location], num_jitters=1, model="small"
        )[0]
        return np.asarray(encoding, np.float64), found


def rgb_of(path: Path, max_side: int | None = None) -> np.ndarray:
    import cv2

    bgr = decode_image(path.read_bytes(), max_pixels=10**9).bgr
    if max_side is not None and max(bgr.shape[:2]) > max_side:
        scale = max_side / max(bgr.shape[:2])
        bgr = cv2.resize(
            bgr,
            (round(bgr.shape[1] * scale), round(bgr.shape[0] * scale)),
            interpolation=cv2.INTER_AREA,
        )
    return np.ascontiguousarray(bgr[:, :, ::-1])


def peer_lfw(
    peer: Peer, keys: list[tuple[str, int]]
) -> tuple[dict[tuple[str, int], np.ndarray], int]:
    cache = CACHE_DIR / "peer-face_recognition-1.3" / "lfw_pairs.npz"
    if cache.is_file():
        stored = np.load(cache)
        names = stored["keys"].tolist()
        if set(names) >= {f"{k[0]}/{k[1]}" for k in keys}:
            rows = {n: i for i, n in enumerate(names)}
            return (
                {k: stored["enc"][rows[f"{k[0]}/{k[1]}"]] for k in keys},
                int((~stored["found"]).sum()),
            )
    root = lfw_root()
    encodings, found = [], []
    started = time.perf_counter()
    for done, key in enumerate(keys, start=1):
        encoding, ok = peer.central_encoding(rgb_of(image_path(root, *key)))
        encodings.append(encoding)
        found.append(ok)
        if done % 500 == 0:
            progress(done, len(keys), started, "peer LFW encodings")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        cache,
        keys=np.array([f"{k[0]}/{k[1]}" for k in keys]),
        enc=np.array(encodings),
        found=np.array(found),
    )
    return dict(zip(keys, encodings, strict=True)), int(len(found) - sum(found))


def _time(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def interleaved_timing(
    engine: FaceEngine, peer: Peer, paths: list[Path], peer_max_side: int | None
) -> dict[str, Any]:
    ours_s, peer_s, ours_faces, peer_faces = [], [], 0, 0
    for position, path in enumerate(paths):
        bgr = decode_image(path.read_bytes(), max_pixels=10**9).bgr
        rgb_full = np.ascontiguousarray(bgr[:, :, ::-1])

        def run_ours(image: np.ndarray = bgr) -> Any:
            return engine.analyse(image)

        def run_peer(image: np.ndarray = rgb_full) -> Any:
            if peer_max_side is not None and max(image.shape[:2]) > peer_max_side:
                import cv2

                scale = peer_max_side / max(image.shape[:2])
                image = cv2.resize(
                    image,
                    (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                    interpolation=cv2.INTER_AREA,
                )
            return peer.faces(image)

        order = (run_ours, run_peer) if position % 2 == 0 else (run_peer, run_ours)
        for fn in order:
            value, seconds = _time(fn)
            if fn is run_ours:
                ours_s.append(seconds)
                ours_faces += len(value)
            else:
                peer_s.append(seconds)
                peer_faces += len(value[0])
    return {
        "images": len(paths),
        "ours_ms_per_image": 1e3 * float(np.mean(ours_s)),
        "peer_ms_per_image": 1e3 * float(np.mean(peer_s)),
        "peer_over_ours": float(np.sum(peer_s) / np.sum(ours_s)),
        "ours_faces": ours_faces,
        "peer_faces": peer_faces,
    }


def peer_scenes(engine: FaceEngine, peer: Peer) -> dict[str, Any]:
    """Register from the first photo (largest face), scan the rest; score per face."""
    photos = scene_photos()
    annotations = subject_annotations()
    known: dict[str, np.ndarray] = {}
    references: dict[str, Path] = {}
    for identity, files in photos.items():
        for path in files:
            boxes, encodings = peer.faces(rgb_of(path, PEER_MAX_SIDE))
            if boxes:
                sizes = [(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]
                known[identity] = encodings[int(np.argmax(sizes))]
                references[identity] = path
                break
    names = list(known)
    gallery = np.array([known[n] for n in names])
    counts = {
        "subjects": 0,
        "subjects_detected": 0,
        "bystanders": 0,
        "assigned": 0,
        "correct": 0,
        "wrong": 0,
    }
    for identity, files in photos.items():
        for path in files:
            if path == references.get(identity):
                continue
            rgb = rgb_of(path, PEER_MAX_SIDE)
            h, w = rgb.shape[:2]
            key = f"{identity}/{path.name}"
            boxes, encodings = peer.faces(rgb)
            relative = annotations.get(key)
            if relative is None:  # the subject is the one face our detector finds
                faces = engine.analyse(rgb[:, :, ::-1].copy())
                subject = max(faces, key=lambda f: f.score).box if faces else None
            else:
                subject = (relative[0] * w, relative[1] * h, relative[2] * w, relative[3] * h)
            position = _subject_position(boxes, subject)
            counts["subjects"] += 1
            counts["subjects_detected"] += position is not None
            for index, encoding in enumerate(encodings):
                counts["bystanders"] += index != position
                distances = np.linalg.norm(gallery - encoding, axis=1)
                best = int(np.argmin(distances))
                if distances[best] > PEER_TOLERANCE:
                    continue
                right = index == position and names[best] == identity
                counts["assigned"] += 1
                counts["correct"] += right
                counts["wrong"] += not right
    return {
        **counts,
        "precision": counts["correct"] / counts["assigned"] if counts["assigned"] else None,
        "recall": counts["correct"] / counts["subjects"] if counts["subjects"] else None,
        "registered": len(known),
        "max_side": PEER_MAX_SIDE,
        "tolerance": PEER_TOLERANCE,
    }


def _subject_position(
    boxes: list[tuple[int, int, int, int]], subject: tuple[float, float, float, float] | None
) -> int | None:
    if subject is None or not boxes:
        return None
    centre = np.array([(subject[0] + subject[2]) / 2, (subject[1] + subject[3]) / 2])
    inside = [
        i
        for i, b in enumerate(boxes)
        if subject[0] <= (b[0] + b[2]) / 2 <= subject[2]
        and subject[1] <= (b[1] + b[3]) / 2 <= subject[3]
    ]
    if not inside:
        return None

    def distance(i: int) -> float:
        x1, y1, x2, y2 = boxes[i]
        return float(np.linalg.norm([(x1 + x2) / 2 - centre[0], (y1 + y2) / 2 - centre[1]]))

    return min(inside, key=distance)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--timing-images",
        type=int,
        default=300,
        help="LFW pair images timed side by side (default 300)",
    )
    args = parser.parse_args()
    peer = Peer()
    facts = machine_facts()
    engine = load_bench_engine()
    pairs = read_pairs()
    keys = sorted({k for p in pairs for k in (p.first, p.second)})
    encodings, peer_missing = peer_lfw(peer, keys)
    distances = np.array([np.linalg.norm(encodings[p.first] - encodings[p.second]) for p in pairs])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    peer_figures = verification_figures(-distances, same, folds)
    peer_roc = peer_figures.pop("_roc")
    peer_figures["accuracy_at_tolerance_0.6"] = float(
        np.mean((distances <= PEER_TOLERANCE) == same)
    )
    embeddings = load_embeddings(engine, pairs=pairs)
    flip = engine.manifest.recognizer.flip_fusion
    refine = engine.manifest.detector.refine_face_px is not None
    sims, _, _, _ = our_pair_scores(embeddings, pairs, flip=flip, refine=refine)
    ours_figures = verification_figures(sims, same, folds)
    ours_roc = ours_figures.pop("_roc")
    plot = roc_plot(
        "peer_roc",
        [
            (
                f"twinwatch {engine.manifest.name} ({100 * ours_figures['accuracy_mean']:.2f}%)",
                *ours_roc,
            ),
            (f"face_recognition / dlib ({100 * peer_figures['accuracy_mean']:.2f}%)", *peer_roc),
        ],
        title="LFW dev pairs: twinwatch vs face_recognition",
    )
    rng = np.random.default_rng(3)
    root = lfw_root()
    timed_keys = [
        keys[i]
        for i in rng.choice(len(keys), size=min(args.timing_images, len(keys)), replace=False)
    ]
    print("  timing on LFW images...", flush=True)
    lfw_timing = interleaved_timing(engine, peer, [image_path(root, *k) for k in timed_keys], None)
    print("  timing on scene photos...", flush=True)
    scene_paths = [p for files in scene_photos().values() for p in files]
    scene_timing = interleaved_timing(engine, peer, scene_paths, PEER_MAX_SIDE)
    print("  peer on scenes...", flush=True)
    scenes = peer_scenes(engine, peer)
    data = {
        "benchmark": "peer",
        "facts": facts,
        "pack": engine.manifest.ref,
        "peer": "face_recognition 1.3.0 (dlib HOG + ResNet, 128-d)",
        "peer_lfw": {
            **peer_figures,
            "no_face_found": peer_missing,
            "published_accuracy": PUBLISHED_PEER_LFW,
        },
        "ours_lfw": ours_figures,
        "timing_lfw": lfw_timing,
        "timing_scenes": scene_timing,
        "peer_scenes": scenes,
        "plot": str(plot) if plot else None,
    }
    rows = [
        [
            "twinwatch " + engine.manifest.name,
            f"{pct(ours_figures['accuracy_mean'])} ± {pct(ours_figures['accuracy_std'])}",
            pct(ours_figures["tar_at_far_0.001"]),
            "99.40%",
            "0",
        ],
        [
            "face_recognition (dlib)",
            f"{pct(peer_figures['accuracy_mean'])} ± {pct(peer_figures['accuracy_std'])}",
            pct(peer_figures["tar_at_far_0.001"]),
            pct(PUBLISHED_PEER_LFW),
            str(peer_missing),
        ],
    ]
    timing_rows = [
        [
            label,
            t["images"],
            fmt(t["ours_ms_per_image"], 1),
            fmt(t["peer_ms_per_image"], 1),
            f"**{fmt(t['peer_over_ours'], 2)}x**",
            f"{t['ours_faces']} / {t['peer_faces']}",
        ]
        for label, t in (("LFW 150x150", lfw_timing), ("scene photos 330-4,600 px", scene_timing))
    ]
    md = "\n".join(
        [
            f"## Peer side by side — face_recognition (dlib) vs {engine.manifest.ref}",
            "",
            facts_line(facts),
            "",
            "### LFW dev pairs (same protocol, same code)",
            "",
            md_table(
                [
                    "system",
                    "accuracy (5-fold)",
                    "TAR@FAR=1e-3",
                    "published LFW",
                    "images without a detected face",
                ],
                rows,
            ),
            "",
            f"Peer at its default tolerance {PEER_TOLERANCE} (no fold tuning): "
            f"{pct(peer_figures['accuracy_at_tolerance_0.6'])}.",
            "",
            "### Time per image, same process, interleaved (detect + embed every face)",
            "",
            md_table(
                ["images", "count", "ours ms", "peer ms", "peer / ours", "faces (ours / peer)"],
                timing_rows,
            ),
            "",
            "### Scenes (register from one photo, scan the rest; per face)",
            "",
            f"Peer (tolerance {PEER_TOLERANCE}, photos shrunk to {PEER_MAX_SIDE} px): precision "
            f"{pct(scenes['precision'], 1)}, recall {pct(scenes['recall'], 1)} "
            f"({scenes['correct']} correct, {scenes['wrong']} wrong assignments, "
            f"{scenes['subjects']} subjects, {scenes['subjects_detected']} detected). Ours: "
            "see `scenes.md`.",
        ]
    )
    write_results("peer", data, md)


if __name__ == "__main__":
    run_main(main)
