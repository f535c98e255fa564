"""Index scale (issue #4 §6): exact flat vs IVF-Flat at 10k, 100k and 1M vectors.

    python -m bench.index_scale [--sizes 10000,100000,1000000] [--queries 1000]

Vectors are synthetic but shaped like the pack's: identity centres and per-photo
variation drawn from Gaussians fitted to the real LFW embeddings (between-identity and
pooled within-identity covariance, from the ``bench.lfw`` cache; isotropic noise with the
same mean genuine similarity when the cache is absent), 4 photos per identity, normalised,
at the pack's dimension. Queries are new photos of registered identities (what a scan
searches for). Both indexes are built with the product's ``VectorIndex.build`` (IVF: the
product's ``ivf_list_count`` cells, k-means trained on all vectors) with FAISS on the
product's thread count (1). Recall@k of IVF = overlap of its top-k with exact top-k;
"same talent at rank 1" = IVF's top-1 vector belongs to the identity of the exact top-1
(what a scan reports). A variant trains k-means on 64 points per list (FAISS' default is
256) to show what a sampled training would save.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any

import faiss
import numpy as np

from bench.common import (
    CACHE_DIR,
    bench_settings,
    facts_line,
    fmt,
    machine_facts,
    md_table,
    run_main,
    write_results,
)
from indexer.modelpack.manifest import find_manifest
from indexer.vector_index import VectorIndex, ivf_list_count

PHOTOS_PER_IDENTITY = 4
NPROBES = (8, 16, 32, 64, 128, 256)
SAMPLED_TRAINING = 64  # points per list for the sampled-training variant (FAISS default 256)
SINGLE_QUERIES = 200


class Generator:
    """Identity centres and photo noise from fitted Gaussians (or isotropic fallback)."""

    def __init__(self, dim: int, seed: int = 42) -> None:
        self.dim = dim
        self.rng = np.random.default_rng(seed)
        self.source = "isotropic (no LFW embedding cache found)"
        self.mean = np.zeros(dim)
        self.between = np.eye(dim) / np.sqrt(dim)
        self.within = np.eye(dim) * 0.8 / np.sqrt(dim)
        fitted = self._fit_from_lfw()
        if fitted is not None:
            self.mean, self.between, self.within = fitted

    def _fit_from_lfw(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        files = sorted(CACHE_DIR.glob("*/lfw/chunk-*.npz"))
        if not files:
            return None
        parts = [np.load(f) for f in files]
        vectors = np.concatenate([p["plain"] for p in parts])
        keys = np.concatenate([p["keys"] for p in parts])
        found = np.concatenate([p["found"] for p in parts]).astype(bool) & np.isfinite(vectors).all(
            axis=1
        )
        if vectors.shape[1] != self.dim or found.sum() < 500:
            return None
        names = np.array([k.split("/")[0] for k in keys])[found]
        vectors = vectors[found].astype(np.float64)
        centres, residuals = [], []
        for name in np.unique(names):
            rows = vectors[names == name]
            if len(rows) >= 2:
                centre = rows.mean(axis=0)
                centres.append(centre)
                residuals.append(rows - centre)
        centre_array = np.array(centres)
        residual_array = np.concatenate(residuals)
        between = np.cov(centre_array.T) + 1e-6 * np.eye(self.dim)
        # residuals around a mean of n photos shrink by (n-1)/n; 2-photo people dominate
        within = np.cov(residual_array.T) * 1.5 + 1e-6 * np.eye(self.dim)
        self.source = (
            f"Gaussians fitted to {len(vectors):,} LFW embeddings "
            f"({len(centres)} identities with >= 2 photos)"
        )
        return (centre_array.mean(axis=0), np.linalg.cholesky(between), np.linalg.cholesky(within))

    def centres(self, count: int) -> np.ndarray:
        z = self.rng.standard_normal((count, self.dim))
        centres: np.ndarray = self.mean + z @ self.between.T
        return centres

    def photos(self, centres: np.ndarray) -> np.ndarray:
        z = self.rng.standard_normal(centres.shape)
        vectors: np.ndarray = centres + z @ self.within.T
        unit: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return unit.astype(np.float32)


def index_bytes(index: VectorIndex) -> int:
    return int(faiss.serialize_index(index.index).size)


def time_queries(index: VectorIndex, queries: np.ndarray, k: int) -> dict[str, Any]:
    """Latency of single-vector searches (median, p95) and of one batched search."""
    single = []
    for query in queries[:SINGLE_QUERIES]:
        started = time.perf_counter()
        index.search(query[None], k)
        single.append(time.perf_counter() - started)
    started = time.perf_counter()
    sims, ids = index.search(queries, k)
    batched = time.perf_counter() - started
    return {
        "sims": sims,
        "single_ms_median": 1e3 * statistics.median(single),
        "single_ms_p95": 1e3 * float(np.percentile(single, 95)),
        "batched_ms_per_query": 1e3 * batched / len(queries),
        "batch_size": len(queries),
        "ids": ids,
    }


def talent_recall(exact: np.ndarray, approx: np.ndarray) -> float:
    """Whether the approximate top-1 belongs to the same identity as the exact top-1.

    What a scan reports is the talent (max over its references), not the vector.
    """
    return float(np.mean(exact[:, 0] // PHOTOS_PER_IDENTITY == approx[:, 0] // PHOTOS_PER_IDENTITY))


def recall(exact: np.ndarray, approx: np.ndarray, k: int) -> float:
    if k == 1:
        return float(np.mean(exact[:, 0] == approx[:, 0]))
    hits = [len(set(e[:k]) & set(a[:k])) / k for e, a in zip(exact, approx, strict=True)]
    return float(np.mean(hits))


def measure(
    size: int, generator: Generator, queries_count: int, dim: int, match_threshold: float
) -> dict[str, Any]:
    identities = size // PHOTOS_PER_IDENTITY
    centres = generator.centres(identities)
    vectors = generator.photos(np.repeat(centres, PHOTOS_PER_IDENTITY, axis=0))
    ids = np.arange(len(vectors), dtype=np.int64)
    picked = generator.rng.choice(identities, size=queries_count, replace=False)
    queries = generator.photos(centres[picked])
    genuine = float(np.mean(np.einsum("ij,ij->i", queries, vectors[picked * PHOTOS_PER_IDENTITY])))
    result: dict[str, Any] = {
        "vectors": len(vectors),
        "identities": identities,
        "mean_genuine_similarity": genuine,
        "raw_vectors_mb": vectors.nbytes / 1e6,
    }
    started = time.perf_counter()
    flat = VectorIndex.build(ids, vectors, dim=dim, approximate_min=10**12, nprobe=1)
    result["flat"] = {
        "build_s": time.perf_counter() - started,
        "memory_mb": index_bytes(flat) / 1e6,
    }
    timing = time_queries(flat, queries, 10)
    exact = timing.pop("ids")
    strong = timing.pop("sims")[:, 0] >= match_threshold  # a scan would report these
    result["queries_above_match"] = int(strong.sum())
    result["flat"].update(timing)
    print(
        f"  {size:,}: flat built in {result['flat']['build_s']:.1f}s, single query "
        f"{timing['single_ms_median']:.2f} ms",
        flush=True,
    )
    del flat
    gc.collect()
    started = time.perf_counter()
    ivf = VectorIndex.build(ids, vectors, dim=dim, approximate_min=1, nprobe=NPROBES[0])
    result["ivf"] = {
        "build_s": time.perf_counter() - started,
        "lists": ivf_list_count(size),
        "memory_mb": index_bytes(ivf) / 1e6,
        "by_nprobe": {},
    }
    for nprobe in NPROBES:
        faiss.extract_index_ivf(ivf.index).nprobe = nprobe
        timing = time_queries(ivf, queries, 10)
        approx = timing.pop("ids")
        timing.pop("sims")
        timing.update(
            recall_at_1=recall(exact, approx, 1),
            recall_at_10=recall(exact, approx, 10),
            talent_recall_at_1=talent_recall(exact, approx),
            recall_at_1_above_match=recall(exact[strong], approx[strong], 1)
            if strong.any()
            else None,
        )
        result["ivf"]["by_nprobe"][nprobe] = timing
    print(
        f"  {size:,}: IVF ({result['ivf']['lists']} lists) built in "
        f"{result['ivf']['build_s']:.1f}s; nprobe 32: recall@1 "
        f"{result['ivf']['by_nprobe'][32]['recall_at_1']:.4f}, single "
        f"{result['ivf']['by_nprobe'][32]['single_ms_median']:.2f} ms",
        flush=True,
    )
    del ivf
    gc.collect()
    result["ivf_sampled"] = sampled_training(ids, vectors, queries, exact, dim, size)
    return result


def sampled_training(
    ids: np.ndarray,
    vectors: np.ndarray,
    queries: np.ndarray,
    exact: np.ndarray,
    dim: int,
    size: int,
) -> dict[str, Any]:
    """IVF as the product builds it, but k-means trained on SAMPLED_TRAINING points per list."""
    lists = ivf_list_count(size)
    started = time.perf_counter()
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = 1234
    index.cp.max_points_per_centroid = SAMPLED_TRAINING
    index.train(vectors)
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
    wrapped = VectorIndex(index, "ivf", dim, 64)
    wrapped.add(ids, vectors)
    out: dict[str, Any] = {
        "build_s": time.perf_counter() - started,
        "training_points": min(size, lists * SAMPLED_TRAINING),
        "by_nprobe": {},
    }
    for nprobe in (64, 128, 256):
        faiss.extract_index_ivf(index).nprobe = nprobe
        timing = time_queries(wrapped, queries, 10)
        approx = timing.pop("ids")
        timing.pop("sims")
        timing.update(
            recall_at_1=recall(exact, approx, 1), talent_recall_at_1=talent_recall(exact, approx)
        )
        out["by_nprobe"][nprobe] = timing
    print(
        f"  {size:,}: IVF trained on {out['training_points']:,} points built in "
        f"{out['build_s']:.1f}s",
        flush=True,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    facts = machine_facts()
    settings = bench_settings()
    faiss.omp_set_num_threads(settings.faiss_threads)
    manifest = find_manifest(settings.pack_manifest_dirs(), settings.model_pack)
    dim = manifest.recognizer.embedding_size
    generator = Generator(dim)
    sizes = [int(s) for s in args.sizes.split(",")]
    match = manifest.thresholds.match
    results = {size: measure(size, generator, args.queries, dim, match) for size in sizes}
    data = {
        "benchmark": "index_scale",
        "facts": facts,
        "dim": dim,
        "vectors_source": generator.source,
        "faiss_threads": settings.faiss_threads,
        "current_switch": settings.index_approximate_min_vectors,
        "current_nprobe": settings.index_ivf_nprobe,
        "sizes": results,
    }
    rows = []
    for size, r in results.items():
        f = r["flat"]
        rows.append(
            [
                f"{size:,}",
                "flat (exact)",
                fmt(f["build_s"], 1),
                fmt(f["memory_mb"], 0),
                fmt(f["single_ms_median"], 2),
                fmt(f["batched_ms_per_query"], 3),
                "1",
                "1",
                "1",
                "1",
            ]
        )
        for nprobe, t in r["ivf"]["by_nprobe"].items():
            rows.append(
                [
                    f"{size:,}",
                    f"IVF {r['ivf']['lists']} lists, nprobe {nprobe}",
                    fmt(r["ivf"]["build_s"], 1),
                    fmt(r["ivf"]["memory_mb"], 0),
                    fmt(t["single_ms_median"], 2),
                    fmt(t["batched_ms_per_query"], 3),
                    fmt(t["recall_at_1"], 4),
                    fmt(t["recall_at_10"], 4),
                    fmt(t["recall_at_1_above_match"], 4),
                    fmt(t["talent_recall_at_1"], 4),
                ]
            )
        sampled = r["ivf_sampled"]
        for nprobe, t in sampled["by_nprobe"].items():
            rows.append(
                [
                    f"{size:,}",
                    f"IVF, k-means on {sampled['training_points']:,} points, nprobe {nprobe}",
                    fmt(sampled["build_s"], 1),
                    "",
                    fmt(t["single_ms_median"], 2),
                    fmt(t["batched_ms_per_query"], 3),
                    fmt(t["recall_at_1"], 4),
                    "",
                    "",
                    fmt(t["talent_recall_at_1"], 4),
                ]
            )
    md = "\n".join(
        [
            "## Index scale — flat vs IVF-Flat",
            "",
            facts_line(facts),
            "",
            f"{dim}-d unit vectors, {PHOTOS_PER_IDENTITY} per identity; {generator.source}. "
            f"{args.queries} queries (new photos of registered identities); single-query latency "
            f"= median of {SINGLE_QUERIES} one-vector searches, batched = all {args.queries} in "
            f"one call; k = 10; FAISS threads = {settings.faiss_threads}. Memory = serialised "
            "index size. Mean query-to-own-reference similarity: "
            + ", ".join(f"{s:,}: {r['mean_genuine_similarity']:.3f}" for s, r in results.items())
            + ".",
            "",
            md_table(
                [
                    "vectors",
                    "index",
                    "build s",
                    "memory MB",
                    "single query ms",
                    "batched ms/query",
                    "recall@1",
                    "recall@10",
                    f"recall@1, top-1 >= match {match}",
                    "same talent at rank 1",
                ],
                rows,
            ),
            "",
            "Queries whose exact top-1 similarity reaches `match`: "
            + ", ".join(f"{s:,}: {r['queries_above_match']}" for s, r in results.items())
            + ".",
        ]
    )
    write_results("index_scale", data, md)


if __name__ == "__main__":
    run_main(main)
