"""Indexer settings: one pydantic-settings class, built once and passed down."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_PACKS_DIR = PROJECT_ROOT / "data" / "model_packs"


class IndexerSettings(BaseSettings):
    """Everything the indexer needs; the service extends this class with its own fields."""

    model_config = SettingsConfigDict(env_prefix="TWINWATCH_", extra="ignore")

    data_dir: Path = Field(
        default=Path("var"),
        description="Where the SQLite file, FAISS files, "
        "model cache and kept reference photos live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default "
        "sqlite:///<data_dir>/twinwatch.db. PostgreSQL URLs work too.",
    )
    model_pack: str = Field(default="opencv-yunet-sface", description="Active model pack name.")
    model_cache_dir: Path | None = Field(
        default=None, description="Where pulled model files live; default <data_dir>/models."
    )
    extra_packs_dir: Path | None = Field(
        default=None,
        description="Folder of operator-supplied "
        "pack manifests (*.json), read beside the shipped ones.",
    )
    insightface_root: Path = Field(
        default=Path.home() / ".insightface",
        description="insightface's model root (for insightface packs).",
    )
    accept_noncommercial_model_licence: bool = Field(
        default=False,
        description="Set to true to acknowledge that a pack's weights are licensed "
        "for non-commercial research only (e.g. insightface-buffalo_l).",
    )

    inference_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="Workers running the models (CLI scan, import "
        "and migrate, batch jobs, the API's inference pool); default "
        "the number of cores. Each runs one image at a time on "
        "shared, single-threaded sessions.",
    )
    ort_intra_op_threads: int = Field(
        default=1,
        ge=1,
        description="onnxruntime threads per model run; parallelism comes from inference_workers.",
    )
    ort_inter_op_threads: int = Field(default=1, ge=1)
    ort_allow_spinning: bool = Field(
        default=False,
        description="Let idle onnxruntime threads "
        "spin; off, because spinning pools fight over the cores.",
    )
    faiss_threads: int = Field(default=1, ge=1)

    max_image_pixels: int = Field(
        default=60_000_000,
        ge=1,
        description="Decompression-bomb "
        "guard: images above this many pixels are refused before "
        "their raster is decoded.",
    )
    max_image_side: int = Field(
        default=20_000,
        ge=1,
        description="Longest accepted image "
        "side in pixels (checked from the header, before decoding).",
    )
    max_image_aspect_ratio: float = Field(
        default=25.0,
        ge=1,
        description="Longest over shortest side; flatter images are refused before decoding.",
    )
    max_decode_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=1,
        description="Memory "
        "budget for decoding one image (the raster in its source "
        "mode plus the 8-bit copies, estimated from the header); "
        "images that would need more are refused before decoding.",
    )
    max_faces_per_image: int = Field(default=64, ge=1)

    keep_reference_photos: bool = Field(
        default=True,
        description="Keep a copy of each accepted "
        "reference photo so `index migrate` can re-embed it.",
    )
    quality_min_face_px: int = Field(
        default=64, ge=1, description="Reference photos: minimum face box side in pixels."
    )
    quality_min_detection_score: float = Field(default=0.8, gt=0, lt=1)
    quality_min_blur: float = Field(
        default=40.0,
        ge=0,
        description="Reference photos: minimum "
        "variance of the Laplacian on the aligned 112x112 face.",
    )
    quality_dominance_ratio: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="A second face "
        "whose box side is at least this fraction of the "
        "largest one makes the photo ambiguous.",
    )

    # From `python -m bench.index_scale` (docs/benchmarks.md, 2 cores, 128-d): exact search
    # costs ~0.06 ms per 1,000 vectors per face (2.8 ms at 100k, 57 ms at 1M, against a
    # ~200 ms scan), never misses, and needs no training; IVF at 1M answers in 1.7 ms but
    # its k-means build takes ~3 minutes on one thread. Exact search stays until it would
    # cost ~10% of a scan (~300k vectors).
    index_approximate_min_vectors: int = Field(
        default=300_000,
        ge=1,
        description="At or above "
        "this many vectors the index is IVF-Flat "
        "instead of exact flat search.",
    )
    # nprobe 128: the right talent at rank 1 for 99.8% of searches at 1M vectors and 100% at
    # 100k (nprobe 32 lost 4.5% at 1M), at 1.7 ms per query at 1M.
    index_ivf_nprobe: int = Field(
        default=128, ge=1, description="IVF cells searched per query (recall against latency)."
    )
    search_top_k: int = Field(
        default=64,
        ge=1,
        description="Nearest references fetched per face before aggregating by talent.",
    )
    candidates_per_face: int = Field(default=3, ge=1)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'twinwatch.db').resolve()}"

    def resolved_model_cache_dir(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    def index_dir(self) -> Path:
        return self.data_dir / "index"

    def photos_dir(self) -> Path:
        return self.data_dir / "photos"

    def portfolio_dir(self) -> Path:
        """Portfolio originals (copy detection), one folder per talent."""
        return self.data_dir / "portfolio"

    def pack_manifest_dirs(self) -> list[Path]:
        dirs = [SHIPPED_PACKS_DIR]
        if self.extra_packs_dir is not None:
            dirs.append(self.extra_packs_dir)
        return dirs
