"""Open-set identification on LFW (issue #4 §2): FNIR at FPIR, as the gallery grows.

    python -m bench.open_set [--references K]

Who is who (all LFW identities of the dev folder, 2,086 people):

* **registrable**: the 774 people with >= 2 photos, plus a fixed random half of the
  people with one photo (656 "filler" talents, registered only);
* **strangers**: the other half of the one-photo people (656 people, never registered).

A gallery of N talents (100 and 1,000: random draws from the registrable people, several
seeds; "all" = every registrable person, 1,430) registers each talent from its first K
photos (default 1). Then:

* **mated searches**: every other photo of a registered talent. Success at threshold t:
  the rank-1 talent is the right one and its similarity is >= t. FNIR = 1 - success rate.
* **non-mated searches**: (a) every stranger's photo, and (b) every mated probe searched
  as if its own talent were not registered (its best *other* talent; "leave-one-out"),
  which gives thousands of stranger searches against a gallery of N-1. FPIR = fraction
  whose rank-1 similarity is >= t.

Search goes through the product's code: the talents and their reference embeddings are
written to a temporary SQLite registry (the product's tables) and searched with
``IndexManager.search`` (FAISS top-k, then the max similarity per talent). Embeddings are
the cached LFW ones (``bench/lfw.py``; no re-embedding per gallery). Each probe has one
face (the one nearest the image centre), so the one-to-one assignment is the rank-1 talent.

Known LFW label noise (``bench.lfw.label_noise``: duplicate images under two names, one
person under two names, mixed labels) is removed from the data.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    bench_settings,
    facts_line,
    fmt,
    load_bench_engine,
    machine_facts,
    md_table,
    pct,
    run_main,
    write_results,
)
from bench.lfw import (
    LfwEmbeddings,
    all_impostor_scores,
    identities,
    label_noise,
    load_embeddings,
)
from bench.plots import det_plot, line_plot
from indexer.calibration import OpenSetScores, expected_fpir
from indexer.db import Agency, Database, Embedding, ReferenceImage, Talent, bump_revisions
from indexer.engine import FaceEngine
from indexer.index_manager import IndexManager
from indexer.settings import IndexerSettings

SPLIT_SEED = 20261128
GALLERY_DRAWS = {100: 5, 1000: 3}
FPIR_TARGETS = (1e-2, 1e-3)
EXTRAPOLATE_TO = (10_000, 100_000)


@dataclass(frozen=True)
class Population:
    """Photos (rows into the embeddings) of registrable people and of strangers."""

    registrable: dict[str, list[int]]  # name -> embedding rows, photo order
    strangers: dict[str, list[int]]
    with_probes: set[str]  # registrable people with >= 2 photos


def population(embeddings: LfwEmbeddings) -> Population:
    people = {
        name: [embeddings.row[(name, n)] for n in numbers if not label_noise((name, n))]
        for name, numbers in identities().items()
    }
    people = {name: rows for name, rows in people.items() if rows}
    singles = sorted(name for name, rows in people.items() if len(rows) == 1)
    rng = np.random.default_rng(SPLIT_SEED)
    shuffled = [singles[i] for i in rng.permutation(len(singles))]
    strangers = set(shuffled[: len(shuffled) // 2])
    return Population(
        registrable={n: r for n, r in people.items() if n not in strangers},
        strangers={n: r for n, r in people.items() if n in strangers},
        with_probes={n for n, r in people.items() if len(r) >= 2},
    )


class ProductGallery:
    """A temporary registry (the product's tables + IndexManager) holding given vectors."""

    def __init__(self, engine: FaceEngine, settings: IndexerSettings, directory: Path) -> None:
        self.settings = settings.model_copy(update={"data_dir": directory})
        self.db = Database(f"sqlite:///{directory / 'gallery.db'}")
        self.db.create_all()
        self.pack = engine.pack
        self.index = IndexManager(db=self.db, pack=self.pack, settings=self.settings)
        self.talent_of: dict[int, str] = {}

    def register(self, references: dict[str, np.ndarray]) -> None:
        with self.db.session() as session:
            agency = Agency(name="bench")
            session.add(agency)
            session.flush()
            for name, vectors in references.items():
                talent = Talent(agency_id=agency.id, name=name)
                session.add(talent)
                session.flush()
                self.talent_of[talent.id] = name
                for number, vector in enumerate(vectors):
                    reference = ReferenceImage(
                        talent_id=talent.id,
                        sha256=f"{talent.id:032x}{number:032x}",
                        width=150,
                        height=150,
                        face_x1=0.0,
                        face_y1=0.0,
                        face_x2=1.0,
                        face_y2=1.0,
                        detection_score=1.0,
                        face_px=1.0,
                        blur=1.0,
                    )
                    session.add(reference)
                    session.flush()
                    session.add(
                        Embedding(
                            reference_image_id=reference.id,
                            talent_id=talent.id,
                            pack_name=self.pack.name,
                            pack_version=self.pack.version,
                            dim=self.pack.embedding_size,
                            vector=np.ascontiguousarray(vector, "<f4").tobytes(),
                        )
                    )
            bump_revisions(session, {self.pack.name})
        self.index.open()

    def top_two(self, queries: np.ndarray) -> list[list[tuple[str, float]]]:
        """Each query's best two talents (name, similarity), via the product's search."""
        results = []
        for start in range(0, len(queries), 1024):
            hits = self.index.search(
                queries[start : start + 1024].astype(np.float32), top_talents=2
            )
            results.extend(
                [[(self.talent_of[h.talent.id], h.similarity) for h in row] for row in hits]
            )
        return results

    def close(self) -> None:
        self.db.dispose()


def search_gallery(
    engine: FaceEngine,
    settings: IndexerSettings,
    embeddings: LfwEmbeddings,
    pop: Population,
    gallery: list[str],
    *,
    references: int,
    flip: bool,
) -> tuple[OpenSetScores, dict[str, int]]:
    vectors = embeddings.vectors(flip=flip)
    found = embeddings.found
    refs: dict[str, np.ndarray] = {}
    mated: list[tuple[str, int]] = []
    for name in gallery:
        usable = [r for r in pop.registrable[name] if found[r]]
        if not usable:
            continue
        refs[name] = vectors[usable[:references]]
        if name in pop.with_probes:
            mated += [(name, r) for r in pop.registrable[name] if r not in usable[:references]]
    stranger_rows = [r for rows in pop.strangers.values() for r in rows]
    with tempfile.TemporaryDirectory(prefix="twinwatch-openset-") as tmp:
        product = ProductGallery(engine, settings, Path(tmp))
        try:
            product.register(refs)
            mated_rows = np.array([r for _, r in mated], dtype=np.int64)
            mated_hits = product.top_two(vectors[mated_rows]) if len(mated_rows) else []
            stranger_hits = product.top_two(vectors[np.array(stranger_rows)])
        finally:
            product.close()
    mated_scores, mated_correct, loo_scores = [], [], []
    for (name, row), hits in zip(mated, mated_hits, strict=True):
        if not found[row]:  # no face detected: a miss, and no stranger search either
            mated_scores.append(-np.inf)
            mated_correct.append(False)
            continue
        mated_scores.append(hits[0][1])
        mated_correct.append(hits[0][0] == name)
        others = [s for n, s in hits if n != name]
        if others:
            loo_scores.append(others[0])
    stranger_scores = [
        hits[0][1] for row, hits in zip(stranger_rows, stranger_hits, strict=True) if found[row]
    ]
    scores = OpenSetScores.of(mated_scores, mated_correct, stranger_scores + loo_scores)
    counts = {
        "talents": len(refs),
        "mated_searches": len(mated),
        "stranger_searches": len(stranger_scores),
        "leave_one_out_searches": len(loo_scores),
    }
    return scores, counts


def pairwise_far(
    embeddings: LfwEmbeddings, thresholds: list[float], *, flip: bool
) -> dict[float, float]:
    """Pairwise FAR over every cross-identity pair of LFW images (label noise removed)."""
    impostor = all_impostor_scores(embeddings, flip=flip)
    return {t: float(np.mean(impostor >= t)) for t in thresholds}


def evaluate(
    engine: FaceEngine,
    embeddings: LfwEmbeddings,
    *,
    references: int,
    flip: bool,
    sizes: tuple[str, ...] = ("100", "1000", "all"),
) -> dict[str, Any]:
    """Each gallery size: FNIR at the FPIR targets and at the shipped thresholds."""
    settings = bench_settings()
    pop = population(embeddings)
    registrable = sorted(pop.registrable)
    shipped = engine.pack.thresholds
    wanted = [int(s) if s != "all" else len(registrable) for s in sizes]
    results: dict[str, Any] = {}
    largest: OpenSetScores | None = None
    for size in wanted:
        draws = GALLERY_DRAWS.get(size, 1)
        runs = []
        for draw in range(draws):
            if size >= len(registrable):
                gallery = registrable
            else:
                rng = np.random.default_rng(SPLIT_SEED + 1000 * size + draw)
                gallery = [
                    registrable[i] for i in rng.choice(len(registrable), size, replace=False)
                ]
            scores, counts = search_gallery(
                engine, settings, embeddings, pop, gallery, references=references, flip=flip
            )
            run: dict[str, Any] = dict(counts)
            for target in FPIR_TARGETS:
                fnir, calibrated = scores.fnir_at_fpir(target)
                run[f"fnir_at_fpir_{target:g}"] = fnir
                run[f"threshold_at_fpir_{target:g}"] = calibrated.threshold
                run[f"resolved_fpir_{target:g}"] = float(calibrated.resolved)
            for band in ("match", "possible"):
                threshold = getattr(shipped, band)
                run[f"fnir_at_{band}"] = scores.fnir(threshold)
                run[f"fpir_at_{band}"] = scores.fpir(threshold)
            run["rank1_accuracy"] = float(np.mean(scores.mated_correct))
            runs.append(run)
            if size >= len(registrable):
                largest = scores
        label = "all" if size >= len(registrable) else str(size)
        mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        results[label] = {
            "gallery_size": int(mean["talents"]),
            "draws": draws,
            "mean": mean,
            "runs": runs,
        }
        print(
            f"  N={label}: FNIR@FPIR=0.1% {pct(mean['fnir_at_fpir_0.001'])}, "
            f"FPIR@match {pct(mean['fpir_at_match'])}",
            flush=True,
        )
    if largest is None:
        raise ValueError("evaluate() needs the 'all' gallery size")
    return {
        "sizes": results,
        "largest": largest,
        "population": {
            "registrable_people": len(pop.registrable),
            "stranger_people": len(pop.strangers),
            "registrable_with_probes": len(pop.with_probes & set(pop.registrable)),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--references", type=int, default=1, help="reference photos per talent (default 1)"
    )
    parser.add_argument(
        "--flip",
        choices=("pack", "on", "off"),
        default="pack",
        help="flip fusion: as the pack's manifest says (default), on or off",
    )
    parser.add_argument("--name", default="open_set", help="result file name")
    args = parser.parse_args()
    facts = machine_facts()
    engine = load_bench_engine()
    flip = engine.manifest.recognizer.flip_fusion if args.flip == "pack" else args.flip == "on"
    embeddings = load_embeddings(engine)
    result = evaluate(engine, embeddings, references=args.references, flip=flip)
    sizes, largest = result["sizes"], result["largest"]
    shipped = engine.pack.thresholds
    thresholds = sorted(
        {
            shipped.match,
            shipped.possible,
            *[s["mean"]["threshold_at_fpir_0.001"] for s in sizes.values()],
            *[s["mean"]["threshold_at_fpir_0.01"] for s in sizes.values()],
        }
    )
    far = pairwise_far(embeddings, thresholds, flip=flip)
    growth = []
    for label, s in sizes.items():
        n = s["gallery_size"]
        growth.append(
            {
                "gallery": label,
                "n": n,
                "fpir_at_match": s["mean"]["fpir_at_match"],
                "expected_fpir_at_match": expected_fpir(far[shipped.match], n),
                "fpir_at_possible": s["mean"]["fpir_at_possible"],
                "expected_fpir_at_possible": expected_fpir(far[shipped.possible], n),
                "threshold_for_fpir_0.001": s["mean"]["threshold_at_fpir_0.001"],
                "fpir_0.001_resolved": s["mean"]["resolved_fpir_0.001"] == 1.0,
            }
        )
    for n in EXTRAPOLATE_TO:
        growth.append(
            {
                "gallery": f"{n:,} (extrapolated)",
                "n": n,
                "fpir_at_match": None,
                "expected_fpir_at_match": expected_fpir(far[shipped.match], n),
                "fpir_at_possible": None,
                "expected_fpir_at_possible": expected_fpir(far[shipped.possible], n),
                "threshold_for_fpir_0.001": None,
                "fpir_0.001_resolved": True,
            }
        )
    _, fpir_curve, fnir_curve = largest.det()
    det = det_plot(
        f"{args.name}_det",
        [
            (
                f"gallery {sizes['all']['gallery_size']:,} talents, {args.references} reference(s)",
                fpir_curve,
                fnir_curve,
            )
        ],
        title=f"Open-set identification on LFW, {engine.pack.name}",
        points=[
            (f"match {shipped.match}", largest.fpir(shipped.match), largest.fnir(shipped.match)),
            (
                f"possible {shipped.possible}",
                largest.fpir(shipped.possible),
                largest.fnir(shipped.possible),
            ),
        ],
    )
    measured = [g for g in growth if g["fpir_at_match"] is not None]
    growth_plot = line_plot(
        f"{args.name}_growth",
        [
            (
                f"FPIR at match {shipped.match} (measured)",
                [g["n"] for g in measured],
                [max(g["fpir_at_match"], 1e-5) for g in measured],
            ),
            (
                f"FPIR at possible {shipped.possible} (measured)",
                [g["n"] for g in measured],
                [max(g["fpir_at_possible"], 1e-5) for g in measured],
            ),
            (
                "FPIR at match, 1-(1-FAR)^N",
                [g["n"] for g in growth],
                [max(g["expected_fpir_at_match"], 1e-5) for g in growth],
            ),
            (
                "FPIR at possible, 1-(1-FAR)^N",
                [g["n"] for g in growth],
                [max(g["expected_fpir_at_possible"], 1e-5) for g in growth],
            ),
        ],
        title="Strangers flagged vs gallery size",
        xlabel="talents registered",
        ylabel="FPIR",
        logx=True,
        logy=True,
    )
    data = {
        "benchmark": "open_set",
        "facts": facts,
        "pack": engine.manifest.ref,
        "flip_fusion": flip,
        "references_per_talent": args.references,
        "shipped_thresholds": {"match": shipped.match, "possible": shipped.possible},
        "population": result["population"],
        "sizes": sizes,
        "growth": growth,
        "pairwise_far": {f"{t:.4f}": v for t, v in far.items()},
        "plots": [str(p) for p in (det, growth_plot) if p],
    }
    rows = []
    for label, s in sizes.items():
        m = s["mean"]
        rows.append(
            [
                f"{label} ({s['gallery_size']:,})"
                + (f", mean of {s['draws']}" if s["draws"] > 1 else ""),
                f"{int(m['mated_searches']):,} / "
                f"{int(m['stranger_searches'] + m['leave_one_out_searches']):,}",
                pct(m["rank1_accuracy"]),
                f"{pct(m['fnir_at_fpir_0.01'])} (t={fmt(m['threshold_at_fpir_0.01'])})",
                f"{pct(m['fnir_at_fpir_0.001'])} (t={fmt(m['threshold_at_fpir_0.001'])})",
                f"{pct(m['fnir_at_match'])} / {pct(m['fpir_at_match'], 3)}",
                f"{pct(m['fnir_at_possible'])} / {pct(m['fpir_at_possible'], 3)}",
            ]
        )
    growth_rows = [
        [
            g["gallery"],
            f"{g['n']:,}",
            pct(g["fpir_at_match"], 3),
            pct(g["expected_fpir_at_match"], 3),
            pct(g["fpir_at_possible"], 3),
            pct(g["expected_fpir_at_possible"], 3),
            fmt(g["threshold_for_fpir_0.001"])
            + (
                ""
                if g["fpir_0.001_resolved"]
                else " (above every stranger: too few searches to resolve 0.1%)"
            ),
        ]
        for g in growth
    ]
    md = "\n".join(
        [
            f"## Open-set identification on LFW — {engine.manifest.ref}",
            "",
            facts_line(facts),
            "",
            f"{result['population']['registrable_people']:,} registrable people "
            f"({result['population']['registrable_with_probes']} with probe photos), "
            f"{result['population']['stranger_people']} strangers never registered; "
            f"{args.references} reference photo(s) per talent; flip fusion "
            f"{'on' if flip else 'off'}. Non-mated searches = strangers' photos + mated probes "
            "searched with their own talent left out. Search through the product's registry "
            "tables and `IndexManager.search` (max similarity per talent).",
            "",
            md_table(
                [
                    "gallery (talents)",
                    "mated / non-mated searches",
                    "rank-1 correct",
                    "FNIR @ FPIR=1%",
                    "FNIR @ FPIR=0.1%",
                    f"at match {shipped.match}: FNIR / FPIR",
                    f"at possible {shipped.possible}: FNIR / FPIR",
                ],
                rows,
            ),
            "",
            "### False alarms grow with the gallery",
            "",
            "A stranger is compared with every talent, so the chance that *some* talent scores "
            "above a fixed threshold grows with N — roughly 1-(1-FAR)^N for pairwise false-accept "
            "rate FAR (independence; FAR measured over all "
            "~14M cross-identity LFW image pairs). The threshold needed for a fixed FPIR rises "
            "with N; the last rows extrapolate the shipped thresholds to larger galleries.",
            "",
            md_table(
                [
                    "gallery",
                    "N",
                    "FPIR at match (measured)",
                    "(1-(1-FAR)^N)",
                    "FPIR at possible (measured)",
                    "(1-(1-FAR)^N)",
                    "threshold for FPIR=0.1%",
                ],
                growth_rows,
            ),
        ]
    )
    write_results(args.name, data, md)


if __name__ == "__main__":
    run_main(main)
