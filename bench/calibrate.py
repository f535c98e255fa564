"""Calibrate the default pack's thresholds (issue #4 §3) and write them to its manifest.

    python -m bench.calibrate [--dry-run] [--match-rate 1e-3] [--possible-rate 1e-2]

Policy (also written into the manifest's ``calibration.method``):

* ``match`` = the stricter (higher) of: FPIR <= match-rate in open-set search of the largest
  LFW gallery (``bench.open_set``: 1,430 talents, one reference each), and pairwise
  FAR <= match-rate over every cross-identity pair of LFW images (~14M pairs);
* ``possible`` = the same at possible-rate (default 1%), never above ``match``.

A stranger matched with high confidence is the costliest error, and in a gallery of N
talents a stranger gets N chances to collide, so the open-set constraint is the one that
binds in practice (FPIR ~ N x FAR); the pairwise constraint only matters for tiny
galleries. Thresholds are rounded up to 3 decimals, so they still meet their targets.

The operator's equivalent on their own labelled photos is ``twinwatch models calibrate``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
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
from bench.lfw import all_impostor_scores, load_embeddings
from bench.open_set import evaluate
from indexer.calibration import derive_thresholds, write_thresholds
from indexer.modelpack.manifest import Calibration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--match-rate", type=float, default=1e-3)
    parser.add_argument("--possible-rate", type=float, default=1e-2)
    parser.add_argument("--dry-run", action="store_true", help="print, do not write")
    args = parser.parse_args()
    facts = machine_facts()
    engine = load_bench_engine()
    manifest = engine.manifest
    flip = manifest.recognizer.flip_fusion
    embeddings = load_embeddings(engine)
    impostor = all_impostor_scores(embeddings, flip=flip)
    open_set = evaluate(engine, embeddings, references=1, flip=flip, sizes=("all",))
    largest = open_set["largest"]
    gallery = open_set["sizes"]["all"]
    derived = derive_thresholds(
        impostor=impostor,
        match_far=args.match_rate,
        possible_far=args.possible_rate,
        open_set=largest,
        match_fpir=args.match_rate,
        possible_fpir=args.possible_rate,
    )
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    searches = gallery["mean"]["stranger_searches"] + gallery["mean"]["leave_one_out_searches"]
    calibration = Calibration(
        data=(
            f"LFW dev folder (shared/faces/lfw, {len(embeddings.keys):,} images of 2,086 "
            f"people): open-set gallery of {gallery['gallery_size']:,} talents (1 reference "
            f"each) with {int(searches):,} stranger searches and "
            f"{int(gallery['mean']['mated_searches']):,} mated searches; "
            f"{impostor.size:,} cross-identity image pairs; flip fusion "
            f"{'on' if flip else 'off'}"
        ),
        date=date,
        method=(
            f"match: the stricter of open-set FPIR <= {args.match_rate:g} (largest "
            f"gallery) and pairwise FAR <= {args.match_rate:g}; possible: the same at "
            f"{args.possible_rate:g}; rounded up to 3 decimals (`python -m bench.calibrate`)"
        ),
        target_false_match_rate=args.match_rate,
    )
    old = manifest.thresholds
    written = False
    if not args.dry_run:
        assert manifest.manifest_path is not None
        write_thresholds(
            manifest.manifest_path,
            match=derived.match,
            possible=derived.possible,
            calibration=calibration,
        )
        written = True
    effects = {}
    for label, match, possible in (
        ("previous", old.match, old.possible),
        ("calibrated", derived.match, derived.possible),
    ):
        effects[label] = {
            "match": match,
            "possible": possible,
            "fpir_at_match": largest.fpir(match),
            "fnir_at_match": largest.fnir(match),
            "fpir_at_possible": largest.fpir(possible),
            "fnir_at_possible": largest.fnir(possible),
            "far_at_match": float(np.mean(impostor >= match)),
            "far_at_possible": float(np.mean(impostor >= possible)),
        }
    constraints = {k: v.__dict__ for k, v in derived.constraints.items()}
    data: dict[str, Any] = {
        "benchmark": "calibrate",
        "facts": facts,
        "pack": manifest.ref,
        "flip_fusion": flip,
        "match": derived.match,
        "possible": derived.possible,
        "match_from": derived.match_from,
        "possible_from": derived.possible_from,
        "constraints": constraints,
        "calibration": calibration.model_dump(),
        "effects": effects,
        "written_to": str(manifest.manifest_path) if written else None,
        "impostor_pairs": int(impostor.size),
    }
    rows = [
        [
            name,
            pct(c.target, 2),
            c.samples,
            fmt(c.threshold, 4),
            pct(c.achieved, 3),
            "yes" if c.resolved else "no",
        ]
        for name, c in derived.constraints.items()
    ]
    effect_rows = [
        [
            label,
            e["match"],
            e["possible"],
            pct(e["fpir_at_match"], 3),
            pct(e["fnir_at_match"]),
            pct(e["fpir_at_possible"], 3),
            pct(e["fnir_at_possible"]),
            pct(e["far_at_match"], 4),
            pct(e["far_at_possible"], 4),
        ]
        for label, e in effects.items()
    ]
    md = "\n".join(
        [
            f"## Calibration — {manifest.ref}",
            "",
            facts_line(facts),
            "",
            f"**match = {derived.match}** (from `{derived.match_from}`), "
            f"**possible = {derived.possible}** (from `{derived.possible_from}`); "
            + (f"written to `{manifest.manifest_path}`." if written else "dry run: not written."),
            "",
            f"Data: {calibration.data}.",
            "",
            f"Method: {calibration.method}.",
            "",
            md_table(
                ["constraint", "target", "scores", "threshold", "achieved", "resolvable"], rows
            ),
            "",
            f"Effect on the largest gallery ({gallery['gallery_size']:,} talents) and on "
            "all cross-identity pairs:",
            "",
            md_table(
                [
                    "thresholds",
                    "match",
                    "possible",
                    "FPIR @match",
                    "FNIR @match",
                    "FPIR @possible",
                    "FNIR @possible",
                    "pairwise FAR @match",
                    "pairwise FAR @possible",
                ],
                effect_rows,
            ),
        ]
    )
    write_results("calibrate", data, md)


if __name__ == "__main__":
    run_main(main)
