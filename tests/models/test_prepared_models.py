"""Prepared networks (`models pull`): same outputs as the published files, faster to run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from indexer.engine import FaceEngine, load_engine
from indexer.fileio import sha256_file
from indexer.modelpack.manifest import find_manifest
from indexer.modelpack.sessions import SessionFactory, prepare_model
from indexer.modelpack.store import (
    LOCAL_MANIFEST,
    pack_directory,
    prepare_pack,
    runnable_models,
)
from indexer.settings import IndexerSettings
from tests.conftest import MODEL_CACHE

pytestmark = pytest.mark.model
TOLERANCE = 1e-5


def default_files() -> tuple[Path, Path]:
    settings = IndexerSettings(model_cache_dir=MODEL_CACHE)
    manifest = find_manifest(settings.pack_manifest_dirs(), settings.model_pack)
    directory = pack_directory(manifest, settings)
    return directory / manifest.detector.file, directory / manifest.recognizer.file


def sessions() -> SessionFactory:
    return SessionFactory(intra_op_threads=1, inter_op_threads=1)


def test_prepared_recognizer_lists_no_weights_as_inputs_and_takes_any_batch() -> None:
    _, recognizer = default_files()
    original = onnx.load(str(recognizer))
    prepared = onnx.load_from_string(prepare_model(recognizer))
    weights = {init.name for init in original.graph.initializer}
    assert len([i for i in original.graph.input if i.name in weights]) > 100  # the IR-6 export
    assert [i.name for i in prepared.graph.input] == [
        i.name for i in original.graph.input if i.name not in weights
    ]
    assert prepared.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_prepared_recognizer_outputs_equal_the_original_within_1e5() -> None:
    _, recognizer = default_files()
    original = sessions().create(recognizer)
    prepared = sessions().create(prepare_model(recognizer))
    crops = np.random.default_rng(7).random((5, 3, 112, 112), dtype=np.float32) * 255
    name = original.get_inputs()[0].name
    expected = np.concatenate(
        [original.run(None, {name: crops[i : i + 1]})[0] for i in range(len(crops))]
    )
    batched = prepared.run(None, {prepared.get_inputs()[0].name: crops})[0]
    assert batched.shape == expected.shape
    assert np.abs(batched - expected).max() <= TOLERANCE * max(1.0, np.abs(expected).max())


def test_prepared_detector_outputs_equal_the_original_within_1e5() -> None:
    detector, _ = default_files()
    original = sessions().create(detector)
    prepared = sessions().create(prepare_model(detector, dynamic_batch=False, dynamic_spatial=True))
    image = np.random.default_rng(3).random((1, 3, 640, 640), dtype=np.float32) * 255
    expected = original.run(None, {original.get_inputs()[0].name: image})
    actual = prepared.run(None, {prepared.get_inputs()[0].name: image})
    for want, got in zip(expected, actual, strict=True):
        assert np.abs(got - want).max() <= TOLERANCE * max(1.0, np.abs(want).max())
    smaller = prepared.run(None, {prepared.get_inputs()[0].name: image[:, :, :320, :480]})
    assert smaller[0].shape[1] == (320 // 8) * (480 // 8)  # any size, not just 640x640


def test_engine_embeddings_from_prepared_files_equal_in_memory_preparation(
    tmp_path: Path, real_engine: FaceEngine
) -> None:
    """`models pull` writes the prepared files beside copies of the originals, records them
    with their sha256, and an engine loaded from them embeds exactly as one prepared in
    memory; a tampered prepared file is ignored, never loaded."""
    cache = tmp_path / "cache"
    settings = IndexerSettings(model_cache_dir=cache)
    manifest = find_manifest(settings.pack_manifest_dirs(), settings.model_pack)
    shutil.copytree(MODEL_CACHE / manifest.name, cache / manifest.name)
    for stale in (cache / manifest.name).glob("*prepared*"):
        stale.unlink()
    prepared = prepare_pack(manifest, settings)
    record = json.loads((cache / manifest.name / LOCAL_MANIFEST).read_text())["prepared"]
    for role, spec in (("detector", manifest.detector), ("recognizer", manifest.recognizer)):
        assert record[spec.file]["sha256"] == sha256_file(prepared[role])
        assert record[spec.file]["source_sha256"] == spec.sha256
        assert prepared[role] != pack_directory(manifest, settings) / spec.file
    assert runnable_models(manifest, settings)["recognizer"] == prepared["recognizer"]

    from_files = load_engine(settings)
    crops = [np.random.default_rng(i).integers(0, 255, (112, 112, 3), np.uint8) for i in range(3)]
    assert (
        np.abs(from_files.recognizer.predict(crops) - real_engine.recognizer.predict(crops)).max()
        <= TOLERANCE
    )

    with prepared["recognizer"].open("r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\0\0\0\0")
    assert isinstance(runnable_models(manifest, settings)["recognizer"], bytes)
