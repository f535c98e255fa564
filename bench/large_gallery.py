"""Large gallery (issue 20 B): the product's ``ivfpq`` index at 1M and 10M vectors.

    nice -n 10 python -m bench.large_gallery --size 10000000 [--queries 1000]

The 1M protocol of ``bench.index_scale``: synthetic talents of 4 vectors each (its
``Generator``), queries are new photos of registered talents. Vectors are generated in
chunks of 500k (seeded per chunk), so peak memory stays ~2.5 GB above the index; each chunk
is added to the index (PQ codes in RAM, exact vectors appended to the on-disk
``ExactStore``) and scanned exactly for the queries' true top-1 (ground truth). Build =
k-means + PQ training on a sample of the first chunk, then the adds (generation and
ground truth excluded), on ``--build-threads`` FAISS threads. Queries run one at a time
on 1 FAISS thread. "Right talent" = the top-1 vector belongs to the query's talent;
"same as exact" = the top-1 belongs to the same talent as exact search's top-1.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from bench.common import bench_settings, facts_line, fmt, machine_facts, md_table, run_main
from bench.common import write_results as write_results
from bench.index_scale import PHOTOS_PER_IDENTITY, Generator
from indexer.settings import IndexerSettings
from indexer.vector_index import PqParams, VectorIndex

log = logging.getLogger(__name__)
CHUNK_VECTORS = 500_000
GROUND_TRUTH_BLOCK = 50_000
SEED = 42


class ChunkedGallery:
    """Talents generated chunk by chunk; the same chunk index always gives the same vectors."""

    def __init__(self, generator: Generator, size: int, queries: int) -> None:
        self.generator = generator
        self.size = size
        self.talents = size // PHOTOS_PER_IDENTITY
        picker = np.random.default_rng((SEED, 0xC0FFEE))
        self.query_talents = np.sort(picker.choice(self.talents, size=queries, replace=False))
        self.queries = np.zeros((queries, generator.dim), np.float32)
        for chunk, first, last in self._spans():  # queries first: ground truth needs them all
            centres = self._centres(chunk, first, last)
            mine = (self.query_talents >= first) & (self.query_talents < last)
            self.generator.rng = np.random.default_rng((SEED, chunk, 1))
            self.queries[mine] = self.generator.photos(centres[self.query_talents[mine] - first])

    def _spans(self) -> Any:
        per_chunk = CHUNK_VECTORS // PHOTOS_PER_IDENTITY
        for chunk, first in enumerate(range(0, self.talents, per_chunk)):
            yield chunk, first, min(first + per_chunk, self.talents)

    def _centres(self, chunk: int, first: int, last: int) -> Any:
        self.generator.rng = np.random.default_rng((SEED, chunk))
        return self.generator.centres(last - first)

    def chunks(self) -> Any:
        for chunk, first, last in self._spans():
            centres = self._centres(chunk, first, last)
            vectors = self.generator.photos(np.repeat(centres, PHOTOS_PER_IDENTITY, axis=0))
            ids = np.arange(first * PHOTOS_PER_IDENTITY, last * PHOTOS_PER_IDENTITY, dtype=np.int64)
            yield ids, vectors


class GroundTruth:
    """Exact top-1 (similarity, id) of each query over every chunk seen."""

    def __init__(self, count: int) -> None:
        self.sims = np.full(count, -np.inf, np.float32)
        self.ids = np.full(count, -1, np.int64)

    def update(self, queries: npt.NDArray[np.float32], ids: Any, vectors: Any) -> None:
        for start in range(0, len(ids), GROUND_TRUTH_BLOCK):
            block = vectors[start : start + GROUND_TRUTH_BLOCK] @ queries.T
            best = block.argmax(axis=0)
            sims = block[best, np.arange(len(queries))]
            better = sims > self.sims
            self.sims[better] = sims[better]
            self.ids[better] = ids[start + best[better]]


def memory_mb() -> dict[str, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "VmHWM", "RssAnon", "RssFile"}:
            fields[key] = int(value.split()[0]) / 1024
    return fields


def build(
    gallery: ChunkedGallery, params: PqParams, store_dir: Path, threads: int
) -> tuple[VectorIndex, GroundTruth, dict[str, float]]:
    faiss.omp_set_num_threads(threads)
    chunks = gallery.chunks()
    first = next(chunks)
    sample_rng = np.random.default_rng((SEED, 7))
    sample_rows = sample_rng.choice(len(first[0]), min(len(first[0]), params.training_points()))
    truth = GroundTruth(len(gallery.queries))
    timings = {"train_s": 0.0, "add_s": 0.0, "data_s": 0.0}

    def timed_chunks() -> Any:
        added = time.perf_counter()  # training ends when the first chunk is asked for
        timings["train_s"] = added - started
        for ids, vectors in itertools.chain([first], chunks):
            truth.update(gallery.queries, ids, vectors)
            resumed = time.perf_counter()
            timings["data_s"] += resumed - added
            yield ids, vectors
            added = time.perf_counter()
            timings["add_s"] += added - resumed
            log.info("added %s vectors (%.0f s)", f"{ids[-1] + 1:,}", timings["add_s"])

    started = time.perf_counter()
    index = VectorIndex.build_pq(
        first[1][np.sort(sample_rows)],
        timed_chunks(),
        dim=gallery.generator.dim,
        params=params,
        nprobe=1,
        store_path=store_dir / "bench.store.f32",
    )
    timings["build_s"] = timings["train_s"] + timings["add_s"]  # data generation excluded
    return index, truth, timings


def measure(
    index: VectorIndex, gallery: ChunkedGallery, truth: GroundTruth, nprobe: int, rerank: int
) -> dict[str, float]:
    faiss.extract_index_ivf(index.index).nprobe = nprobe
    index.rerank = rerank
    latencies, top = [], []
    for query in gallery.queries:
        started = time.perf_counter()
        _, ids = index.search(query[None], 64)
        latencies.append(time.perf_counter() - started)
        top.append(ids[0, 0])
    talent = np.asarray(top) // PHOTOS_PER_IDENTITY
    return {
        "p50_ms": 1e3 * statistics.median(latencies),
        "p95_ms": 1e3 * float(np.percentile(latencies, 95)),
        "right_talent": float(np.mean(talent == gallery.query_talents)),
        "same_as_exact": float(np.mean(talent == truth.ids // PHOTOS_PER_IDENTITY)),
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = bench_settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--lists", type=int, default=settings.index_pq_lists)
    parser.add_argument("--subquantizers", type=int, default=settings.index_pq_subquantizers)
    parser.add_argument("--nprobes", default=f"32,64,{settings.index_pq_nprobe},256")
    parser.add_argument("--reranks", default=f"64,{settings.index_pq_rerank}")
    parser.add_argument("--build-threads", type=int, default=2)
    args = parser.parse_args()
    facts = machine_facts()
    generator = Generator(settings_dim(settings))
    gallery = ChunkedGallery(generator, args.size, args.queries)
    params = PqParams(args.lists, args.subquantizers, settings.index_pq_rerank)
    with tempfile.TemporaryDirectory(prefix="twinwatch-gallery-") as tmp:
        index, truth, timings = build(gallery, params, Path(tmp), args.build_threads)
        faiss.omp_set_num_threads(1)
        after_build = memory_mb()
        index_bytes = int(faiss.serialize_index(index.index).size)
        assert index.store is not None
        store_ram = index.store.row_ids.nbytes * 3  # row ids + sorted ids + sorted rows
        results = {
            (nprobe, rerank): measure(index, gallery, truth, nprobe, rerank)
            for nprobe in map(int, args.nprobes.split(","))
            for rerank in map(int, args.reranks.split(","))
        }
        after_queries = memory_mb()
    data = {
        "benchmark": "large_gallery",
        "facts": facts,
        "command": command_line(args),
        "size": args.size,
        "vectors_source": generator.source,
        "factory": params.factory(),
        "timings": timings,
        "index_mb": index_bytes / 1e6,
        "store_map_mb": store_ram / 1e6,
        "memory_after_build_mb": after_build,
        "memory_after_queries_mb": after_queries,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "results": {f"nprobe {n}, rerank {r}": v for (n, r), v in results.items()},
    }
    write_results(f"large_gallery_{args.size // 1_000_000}m", data, markdown(data))


def settings_dim(settings: IndexerSettings) -> int:
    from indexer.modelpack.manifest import find_manifest

    manifest = find_manifest(settings.pack_manifest_dirs(), settings.model_pack)
    return manifest.recognizer.embedding_size


def command_line(args: argparse.Namespace) -> str:
    return (
        f"nice -n 10 python -m bench.large_gallery --size {args.size} --queries {args.queries} "
        f"--lists {args.lists} --subquantizers {args.subquantizers} --nprobes {args.nprobes} "
        f"--reranks {args.reranks} --build-threads {args.build_threads}"
    )


def markdown(data: dict[str, Any]) -> str:
    t = data["timings"]
    mem = data["memory_after_queries_mb"]
    rows = [
        [
            f"{data['size']:,}",
            key,
            fmt(v["p50_ms"], 2),
            fmt(v["p95_ms"], 2),
            f"{100 * v['right_talent']:.1f}%",
            f"{100 * v['same_as_exact']:.1f}%",
        ]
        for key, v in data["results"].items()
    ]
    return "\n".join(
        [
            f"### Large gallery — {data['factory']} + exact re-rank, {data['size']:,} vectors",
            "",
            facts_line(data["facts"]),
            "",
            f"`{data['command']}`",
            "",
            f"{data['vectors_source']}; {PHOTOS_PER_IDENTITY} vectors per talent. Build "
            f"{t['build_s']:.0f} s (training {t['train_s']:.0f} s, adds {t['add_s']:.0f} s; "
            f"generating the vectors and the exact ground truth took {t['data_s']:.0f} s more). "
            f"Index RAM: PQ index {data['index_mb']:.0f} MB + store id map "
            f"{data['store_map_mb']:.0f} MB; process RSS after the queries "
            f"{mem['VmRSS']:.0f} MB (anonymous {mem['RssAnon']:.0f} MB, mapped store pages "
            f"{mem['RssFile']:.0f} MB), peak {data['peak_rss_mb']:.0f} MB. Queries: one at a "
            "time, 1 FAISS thread, top 64.",
            "",
            md_table(
                ["vectors", "setting", "p50 ms", "p95 ms", "right talent @1", "same as exact"],
                rows,
            ),
        ]
    )


if __name__ == "__main__":
    run_main(main)
