"""Model pack manifests: data, not code.

A manifest names the pack, says where each file comes from (with size and sha256), the
licence, the input conventions of each network, the embedding size and the calibrated
match thresholds. Nothing about a pack is guessed from tensor shapes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from indexer.errors import ModelPackManifestError, ModelPackUnknownError

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PypiWheelSource(_Strict):
    """Files extracted from a wheel on the package index (never installed or imported)."""

    kind: Literal["pypi_wheel"]
    package: str
    version: str
    wheel_filename: str
    wheel_sha256: Sha256


class InsightfaceSource(_Strict):
    """Files in insightface's model directory (``<insightface_root>/models/<name>/``)."""

    kind: Literal["insightface"]
    name: str


class LocalSource(_Strict):
    """Operator-supplied files in a folder (absolute, or relative to the manifest)."""

    kind: Literal["local"]
    directory: str


PackSource = Annotated[
    PypiWheelSource | InsightfaceSource | LocalSource, Field(discriminator="kind")
]


class ModelFile(_Strict):
    file: str = Field(description="File name inside the pack's folder.")
    member: str | None = Field(default=None, description="Path inside the source wheel.")
    size_bytes: int | None = Field(default=None, gt=0)
    sha256: Sha256
    licence: str
    origin: str = Field(description="Where the network was published.")


class InputConvention(_Strict):
    input_color: Literal["RGB", "BGR"]
    input_mean: float
    input_std: float = Field(gt=0)


class DetectorSpec(ModelFile, InputConvention):
    kind: Literal["yunet", "scrfd"]
    working_sizes: list[int] = Field(
        min_length=1, description="Longer side (px) of each detection pass; results merged."
    )
    pad_fraction: float = Field(
        ge=0,
        le=1,
        description="Border added on each side before detecting, as a fraction of "
        "the longer side, so faces that fill the frame are still found.",
    )
    score_threshold: float = Field(gt=0, lt=1)
    nms_threshold: float = Field(gt=0, lt=1)
    refine_face_px: int | None = Field(
        default=None,
        gt=0,
        description="Second pass per face: re-detect on a crop scaled so "
        "the face is about this many pixels, for precise landmarks (None: off).",
    )


class RecognizerSpec(ModelFile, InputConvention):
    kind: Literal["arcface"] = Field(
        description="ArcFace-style: 5-point aligned 112x112 crop in, one embedding out."
    )
    input_size: Literal[112]
    embedding_size: int = Field(gt=0)
    flip_fusion: bool = Field(description="Embed the mirrored crop too and average.")


class Calibration(_Strict):
    data: str
    date: str
    method: str
    target_false_match_rate: float | None = None


class Thresholds(_Strict):
    metric: Literal["cosine"] = "cosine"
    match: float = Field(description="Similarity at or above this is a `match`.")
    possible: float = Field(
        description="At or above this (and below `match`) is `possible`: it needs human review."
    )
    calibration: Calibration

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if not -1.0 <= self.possible <= self.match <= 1.0:
            raise ValueError("thresholds must satisfy -1 <= possible <= match <= 1")
        return self


class PackLicence(_Strict):
    summary: str
    commercial_use: bool
    requires_acknowledgement: bool = Field(
        description="Refuse to load unless the operator acknowledges the licence in settings."
    )
    notice: str


class ModelPackManifest(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: str
    description: str
    licence: PackLicence
    source: PackSource
    detector: DetectorSpec
    recognizer: RecognizerSpec
    thresholds: Thresholds
    manifest_path: Path | None = Field(default=None, exclude=True)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def files(self) -> list[ModelFile]:
        return [self.detector, self.recognizer]


def load_manifest(path: Path) -> ModelPackManifest:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return ModelPackManifest.model_validate({**raw, "manifest_path": path})
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        raise ModelPackManifestError(f"Model pack manifest {path} is invalid: {exc}") from exc


def discover_manifests(directories: list[Path]) -> dict[str, ModelPackManifest]:
    """All manifests in ``directories`` by pack name; a later folder overrides an earlier one."""
    packs: dict[str, ModelPackManifest] = {}
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.json")):
            manifest = load_manifest(path)
            packs[manifest.name] = manifest
    return packs


def find_manifest(directories: list[Path], name: str) -> ModelPackManifest:
    packs = discover_manifests(directories)
    if name not in packs:
        known = ", ".join(sorted(packs)) or "none"
        raise ModelPackUnknownError(f"No model pack named {name!r}; known packs: {known}.")
    return packs[name]
