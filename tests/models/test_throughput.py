"""Issue 11, throughput: photos decode at the JPEG reductions the models need (draft mode),
the fast JPEG path gives Pillow's pixels, the PRelu rewrite of prepared networks is
bit-identical, and a crowded photo's recognizer batch is shared with idle helpers without
ever waiting for a busy one."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from indexer.engine import FaceEngine
from indexer.errors import ImageDecodeError
from indexer.imaging import FacePhoto, decode_image, open_photo
from indexer.modelpack.recognizers import ArcFaceRecognizer
from indexer.modelpack.sessions import SessionFactory, nchw_blob, prepare_model
from service.rules.fingerprints import hamming_distance, perceptual_hash

STORED_SIZE = (803, 611)  # not a multiple of 8, so reduced rasters end in a partial block
SPOT = (601, 150)  # stored-raster centre of a bright 41x41 square


def spot_jpeg(orientation: int) -> bytes:
    canvas = np.full((STORED_SIZE[1], STORED_SIZE[0], 3), 40, np.uint8)
    x, y = SPOT
    canvas[y - 20 : y + 21, x - 20 : x + 21] = 250
    image = Image.fromarray(canvas)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def spot_centre(bgr: np.ndarray) -> np.ndarray:
    weights = np.clip(bgr[:, :, 1].astype(np.float32) - 100, 0, None)
    ys, xs = np.indices(weights.shape)
    total = float(weights.sum())
    return np.array([(xs * weights).sum() / total, (ys * weights).sum() / total], np.float32)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_reduced_views_map_points_to_full_size_for_every_exif_orientation(orientation: int) -> None:
    photo = open_photo(spot_jpeg(orientation))
    full = photo.view(1)
    assert (photo.width, photo.height) == (full.bgr.shape[1], full.bgr.shape[0])
    expected = spot_centre(full.bgr)
    for reduction in (2, 4, 8):
        view = photo.view(reduction)
        assert view.reduction == reduction
        assert view.bgr.shape[:2] == (-(-photo.height // reduction), -(-photo.width // reduction))
        mapped = view.to_full(spot_centre(view.bgr))
        assert np.abs(mapped - expected).max() < 1.0, (reduction, mapped, expected)
        assert np.abs(view.from_full(view.to_full(expected)) - expected).max() < 1e-3


def test_each_reduction_is_decoded_once_and_only_when_asked_for() -> None:
    photo = open_photo(spot_jpeg(1))
    assert photo.decode_s == 0.0
    first = photo.view(4)
    assert photo.view(4) is first
    assert photo.coarsest_decoded() is first
    assert photo.reduction_for(803, 200) == 4  # 803 / 4 >= 200 > 803 / 8
    assert photo.reduction_for(150, 200) == 1


def test_a_png_is_never_reduced() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), (10, 20, 30)).save(buffer, format="PNG")
    photo = open_photo(buffer.getvalue())
    assert photo.reduction_for(800, 100) == 1
    assert photo.view(8).reduction == 1


def test_the_fast_jpeg_path_gives_pillows_pixels(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    noise = rng.integers(0, 255, (333, 517, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="JPEG", quality=85)
    data = buffer.getvalue()
    for reduction in (1, 2, 4, 8):
        with Image.open(io.BytesIO(data)) as img:
            if reduction > 1:
                img.draft(img.mode, (img.width // reduction, img.height // reduction))
            expected = np.asarray(img.convert("RGB"))[:, :, ::-1]
        assert np.array_equal(open_photo(data).view(reduction).bgr, expected)
    assert np.array_equal(decode_image(data).bgr, open_photo(data).view(1).bgr)


def test_a_truncated_jpeg_is_still_refused() -> None:
    data = spot_jpeg(1)
    with pytest.raises(ImageDecodeError):
        open_photo(data[: len(data) // 2]).view(2)


def test_a_decoded_image_keeps_its_facts_as_a_photo() -> None:
    data = spot_jpeg(6)
    decoded = decode_image(data)
    photo = FacePhoto.of_decoded(decoded)
    assert (photo.sha256, photo.width, photo.height, photo.source_format) == (
        decoded.sha256,
        decoded.width,
        decoded.height,
        "JPEG",
    )
    assert photo.view(4).bgr is decoded.bgr


def test_an_array_is_a_full_size_photo() -> None:
    bgr = np.zeros((40, 60, 3), np.uint8)
    photo = FacePhoto.of_array(bgr)
    assert (photo.width, photo.height) == (60, 40)
    assert photo.view(4).bgr is bgr


def prelu_network(slopes: np.ndarray) -> onnx.ModelProto:
    channels = len(slopes)
    weight = np.random.default_rng(1).normal(size=(channels, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("PRelu", ["c", "slope"], ["y"]),
        ],
        "prelu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, channels, 16, 16])],
        [
            numpy_helper.from_array(weight, "w"),
            numpy_helper.from_array(slopes.reshape(-1, 1, 1).astype(np.float32), "slope"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_prelu_is_rewritten_into_ops_with_bit_identical_outputs() -> None:
    """Slopes below 0 and above 1 (SFace has both): Max(x, slope*x) would be wrong there."""
    original = prelu_network(np.array([-0.8, 0.0, 0.25, 1.0, 1.12, -0.01, 0.6, 2.0]))
    prepared = prepare_model(original, dynamic_batch=False)
    assert "PRelu" not in {node.op_type for node in onnx.load_from_string(prepared).graph.node}
    sessions = SessionFactory(intra_op_threads=1, inter_op_threads=1)
    image = np.random.default_rng(2).normal(size=(1, 3, 16, 16)).astype(np.float32) * 50
    want = sessions.create(original.SerializeToString()).run(None, {"x": image})[0]
    got = sessions.create(prepared).run(None, {"x": image})[0]
    assert (want < 0).any() and (want > 0).any()
    assert np.array_equal(got, want)


# --- the real models on the shared scene photos ------------------------------------------------
def scene_files(shared_faces: Path) -> list[Path]:
    return sorted((shared_faces / "scenes").rglob("*.jpg"))


@pytest.mark.model
@pytest.mark.shared_faces
def test_draft_decoding_moves_scene_embeddings_no_more_than_a_pixel_shift(
    shared_faces: Path, real_engine: FaceEngine
) -> None:
    """Every face of the scene photos is found in both, at cosine >= 0.97 (the stability
    bar of tests/models/test_scene_stability.py); the fingerprint moves by 2 bits at most."""
    moved: list[str] = []
    reduced = 0
    for path in scene_files(shared_faces):
        data = path.read_bytes()
        full = decode_image(data).bgr
        photo = open_photo(data)
        drafted = real_engine.analyse(photo)
        reference = real_engine.analyse(full)
        reduced += photo.coarsest_decoded().reduction > 1
        assert len(drafted) == len(reference), path.name
        for face, twin in zip(
            sorted(drafted, key=lambda f: f.box),
            sorted(reference, key=lambda f: f.box),
            strict=True,
        ):
            cosine = float(face.embedding @ twin.embedding)
            if cosine < 0.97:
                moved.append(f"{path.parent.name}/{path.name}: cosine {cosine:.3f}")
        assert (
            hamming_distance(perceptual_hash(photo.coarsest_decoded().bgr), perceptual_hash(full))
            <= 2
        ), path.name
    assert reduced >= 30
    assert not moved, moved


@pytest.mark.model
def test_a_batch_shared_with_helpers_gives_the_same_embeddings_and_never_waits_for_a_busy_one(
    real_engine: FaceEngine,
) -> None:
    alone = real_engine.recognizer
    crops = list(np.random.default_rng(4).integers(0, 255, (7, 112, 112, 3), dtype=np.uint8))
    expected = ArcFaceRecognizer(alone.spec, alone.model, alone.sessions).predict(crops)
    with ThreadPoolExecutor(max_workers=1) as helpers:
        shared = ArcFaceRecognizer(
            alone.spec, alone.model, alone.sessions, helpers=helpers, helper_count=1
        )
        assert np.abs(shared.predict(crops) - expected).max() < 1e-5
        release = threading.Event()
        helpers.submit(release.wait, 60)  # the only helper is busy
        try:
            assert np.abs(shared.predict(crops) - expected).max() < 1e-5
        finally:
            release.set()


@pytest.mark.parametrize(("mean", "std"), [(0.0, 1.0), (127.5, 128.0), (127.5, 127.5)])
@pytest.mark.parametrize("rgb", [False, True])
def test_network_inputs_are_the_plain_formula_bit_for_bit(
    mean: float, std: float, rgb: bool
) -> None:
    """The fast blob (bytes moved into planes, then converted) equals (x - mean) / std in
    float32, channels first, for every pack's mean/std and channel order."""
    images = np.random.default_rng(5).integers(0, 256, (3, 37, 53, 3), np.uint8)
    ordered = images[..., ::-1] if rgb else images
    expected = np.ascontiguousarray(
        ((ordered.astype(np.float32) - mean) / std).transpose(0, 3, 1, 2)
    )
    blob = nchw_blob(images, rgb=rgb, mean=mean, std=std)
    assert blob.dtype == np.float32 and blob.flags.c_contiguous
    assert np.array_equal(blob, expected)
