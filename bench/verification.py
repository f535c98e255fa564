"""LFW verification (issue #4 §1): 5-fold accuracy, ROC, TAR at FAR = 1e-2 and 1e-3.

    python -m bench.verification

Pairs: ``lfw_pairs_dev.txt`` (5 folds x 300 same + 300 different). Per fold, the threshold
that maximises accuracy on the other four folds is applied to it (the LFW protocol); the
mean and standard deviation over the folds are reported. The default pack runs four ways in
the same run: flip fusion off/on x landmark refinement on/off (the manifest's
``recognizer.flip_fusion`` and ``detector.refine_face_px``). A pair whose image has no
detected face counts as "different" (similarity -1).

TAR at FAR = 1e-3 on 1,500 impostor pairs is coarse (it allows one false accept); the
calibration benchmark uses all ~14M cross-identity image pairs for the FAR thresholds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.common import (
    facts_line,
    fmt,
    load_bench_engine,
    machine_facts,
    md_table,
    pct,
    run_main,
    write_results,
)
from bench.lfw import LfwEmbeddings, Pair, load_embeddings, read_pairs
from bench.plots import roc_plot
from indexer.calibration import kfold_accuracy, roc_curve, tar_at_far

PUBLISHED_LFW_ACCURACY = {"opencv-yunet-sface": 0.9940}  # OpenCV Zoo's SFace figure
FARS = (1e-2, 1e-3)


def pair_scores(
    embeddings: LfwEmbeddings, pairs: list[Pair], *, flip: bool, refine: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(similarity, same, fold) per pair; -1 where either image has no face."""
    vectors = embeddings.vectors(flip=flip, refine=refine)
    first = np.array([embeddings.row[p.first] for p in pairs])
    second = np.array([embeddings.row[p.second] for p in pairs])
    sims = np.einsum(
        "ij,ij->i", vectors[first].astype(np.float64), vectors[second].astype(np.float64)
    )
    missing = ~(embeddings.found[first] & embeddings.found[second])
    sims[missing] = -1.0
    return (
        sims,
        np.array([p.same for p in pairs]),
        np.array([p.fold for p in pairs]),
        int(missing.sum()),
    )


def verification_figures(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> dict[str, Any]:
    """Protocol accuracy, AUC and TAR at the FARs for one set of pair scores."""
    kfold = kfold_accuracy(scores, same, folds)
    genuine, impostor = scores[same], scores[~same]
    curve = roc_curve(genuine, impostor)
    figures: dict[str, Any] = {
        "accuracy_mean": kfold.mean,
        "accuracy_std": kfold.std,
        "fold_accuracies": kfold.accuracies,
        "fold_thresholds": kfold.thresholds,
        "auc": curve.auc(),
        "genuine_pairs": int(same.sum()),
        "impostor_pairs": int((~same).sum()),
        "errors": {},
    }
    for far in FARS:
        tar, calibrated = tar_at_far(genuine, impostor, far)
        figures[f"tar_at_far_{far:g}"] = tar
        figures[f"threshold_at_far_{far:g}"] = calibrated.threshold
        figures[f"far_{far:g}_resolved"] = calibrated.resolved
    threshold = float(np.median(kfold.thresholds))
    figures["errors"] = {
        "false_rejects": int((genuine < threshold).sum()),
        "false_accepts": int((impostor >= threshold).sum()),
        "at_threshold": threshold,
    }
    figures["_roc"] = (curve.far, curve.tar)
    return figures


def main() -> None:
    facts = machine_facts()
    pairs = read_pairs()
    engine = load_bench_engine()
    embeddings = load_embeddings(engine, pairs=pairs)
    pack = engine.manifest
    shipped_flip = pack.recognizer.flip_fusion
    shipped_refine = pack.detector.refine_face_px is not None
    variants: dict[str, dict[str, Any]] = {}
    curves = []
    missing_faces = 0
    for refine in (True, False):
        for flip in (False, True):
            label = f"flip fusion {'on' if flip else 'off'}, refinement {'on' if refine else 'off'}"
            sims, same, folds, missing = pair_scores(embeddings, pairs, flip=flip, refine=refine)
            missing_faces = max(missing_faces, missing)
            figures = verification_figures(sims, same, folds)
            far, tar = figures.pop("_roc")
            curves.append((f"{label} ({100 * figures['accuracy_mean']:.2f}%)", far, tar))
            figures.update(
                flip_fusion=flip,
                refinement=refine,
                shipped=(flip == shipped_flip and refine == shipped_refine),
            )
            variants[label] = figures
    pair_images = {key for p in pairs for key in (p.first, p.second)}
    found = sum(bool(embeddings.found[embeddings.row[k]]) for k in pair_images)
    published = PUBLISHED_LFW_ACCURACY.get(pack.name)
    flip_on = variants[
        "flip fusion on, refinement on" if shipped_refine else "flip fusion on, refinement off"
    ]
    flip_off = variants[
        "flip fusion off, refinement on" if shipped_refine else "flip fusion off, refinement off"
    ]
    plot = roc_plot(
        "verification_roc", curves, title=f"LFW dev pairs, {pack.name} (5 folds, 3,000 pairs)"
    )
    data = {
        "benchmark": "verification",
        "facts": facts,
        "pack": pack.ref,
        "pairs_file": "lfw_pairs_dev.txt",
        "pairs": len(pairs),
        "pair_images": len(pair_images),
        "pair_images_with_face": found,
        "pairs_without_face": missing_faces,
        "published_accuracy": published,
        "variants": variants,
        "flip_fusion_gain_points": 100 * (flip_on["accuracy_mean"] - flip_off["accuracy_mean"]),
        "plot": str(plot) if plot else None,
    }
    rows = []
    for label, v in variants.items():
        rows.append(
            [
                label + (" **(shipped)**" if v["shipped"] else ""),
                f"{pct(v['accuracy_mean'])} ± {pct(v['accuracy_std'])}",
                fmt(v["auc"], 5),
                pct(v["tar_at_far_0.01"]),
                pct(v["tar_at_far_0.001"]),
                f"{fmt(v['threshold_at_far_0.001'])}",
                f"{v['errors']['false_rejects']} / {v['errors']['false_accepts']}",
            ]
        )
    md = "\n".join(
        [
            f"## LFW verification — {pack.ref}",
            "",
            facts_line(facts),
            "",
            f"`lfw_pairs_dev.txt`: {len(pairs):,} pairs in 5 folds over {len(pair_images):,} "
            f"images; a face was found in {found:,} of them ({missing_faces} pairs without one). "
            "Accuracy: per fold, the threshold is chosen on the other 4 folds. "
            f"Published LFW accuracy of the pack: **{pct(published)}** (10 folds, full LFW).",
            "",
            md_table(
                [
                    "variant",
                    "accuracy (5-fold)",
                    "AUC",
                    "TAR@FAR=1e-2",
                    "TAR@FAR=1e-3",
                    "threshold @FAR=1e-3",
                    "errors (FR / FA) at median fold threshold",
                ],
                rows,
            ),
            "",
            f"Flip fusion changes accuracy by {data['flip_fusion_gain_points']:+.2f} points "
            "with the shipped landmark refinement "
            f"({pct(flip_off['accuracy_mean'])} off → {pct(flip_on['accuracy_mean'])} on; "
            "1 pair = 0.033 points). TAR@FAR=1e-3 rests on 1,500 impostor pairs "
            "(≤ 1 false accept).",
        ]
    )
    write_results("verification", data, md)


if __name__ == "__main__":
    run_main(main)
