"""Derived images through the `twinwatch` command (issue 22), with the real model pack on
real scene photos: a portfolio image's cropped and recoloured copy is found and located, a
copy with another face cloned on is called "face replaced", another photo of the same shoot
is not a copy, and erasing the talent leaves no portfolio trace."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from indexer.engine import FaceEngine
from service import cli as service_cli
from tests.conftest import MODEL_CACHE
from tests.support import copies as edits

pytestmark = [pytest.mark.model, pytest.mark.shared_faces]
runner = CliRunner()

ORIGINAL = "scenes/Angelina/img6.jpg"
SAME_SHOOT = "scenes/Angelina/img5.jpg"  # same event, same press wall: not a copy
DONOR = "lfw/Aaron_Sorkin/Aaron_Sorkin_0001.jpg"


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(service_cli.app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TWINWATCH_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TWINWATCH_MODEL_CACHE_DIR", str(MODEL_CACHE))
    assert run("agencies", "create", "Agency")[0] == 0
    return tmp_path


def talent_with_portfolio(env: Path, shared_faces: Path) -> tuple[int, int]:
    code, output = run(
        "talent",
        "add",
        "Angelina",
        "--agency",
        "Agency",
        str(shared_faces / "scenes/Angelina/img1.jpg"),
    )
    assert code == 0, output
    code, output = run("talent", "list", "--json")
    talent_id = json.loads(output)[0]["id"]
    code, output = run("portfolio", "add", "--talent", str(talent_id), str(shared_faces / ORIGINAL))
    assert code == 0, output
    image_id = int(output.strip().rsplit(" ", 1)[-1])
    return talent_id, image_id


def write(path: Path, bgr: np.ndarray, quality: int = 88) -> Path:
    path.write_bytes(edits.jpeg(bgr, quality))
    return path


def scan_json(*paths: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    code, output = run("scan", "--json", *map(str, paths))
    assert code == 0, output
    return {Path(r["path"]).name: r for r in json.loads(output)["images"]}


def test_cropped_recoloured_copy_is_found_and_located_and_pasted_face_is_replaced(
    env: Path, shared_faces: Path, real_engine: FaceEngine
) -> None:
    _talent, image_id = talent_with_portfolio(env, shared_faces)
    original = edits.decode((shared_faces / ORIGINAL).read_bytes())
    face = edits.largest_face(real_engine, original)
    assert face is not None
    half = edits.recolour(edits.crop_area(original, 0.5, edits.face_centre(face, original)))
    donor = edits.decode((shared_faces / DONOR).read_bytes())
    donor_face = edits.largest_face(real_engine, donor)
    assert donor_face is not None
    swapped = edits.paste_face(original, face, donor, donor_face)
    reports = scan_json(
        write(env / "half.jpg", half),
        write(env / "swapped.jpg", swapped),
        shared_faces / SAME_SHOOT,
        shared_faces / ORIGINAL,
    )

    (found,) = reports["half.jpg"]["derived_from"]
    assert found["talent"]["name"] == "Angelina"
    assert found["portfolio_image"] == image_id
    assert found["area_share"] == pytest.approx(0.5, abs=0.06)
    assert found["face_present"] and not found["face_replaced"]
    xs = [p[0] for p in found["region"]]
    assert min(xs) > 0.05 * original.shape[1] and max(xs) < 0.95 * original.shape[1]

    (pasted,) = reports["swapped.jpg"]["derived_from"]
    assert pasted["portfolio_image"] == image_id
    assert pasted["face_replaced"] and pasted["face_similarity"] < 0.55
    assert pasted["area_share"] == pytest.approx(1.0, abs=0.02)

    assert reports[Path(SAME_SHOOT).name]["derived_from"] == []
    (itself,) = reports[Path(ORIGINAL).name]["derived_from"]
    assert itself["face_similarity"] > 0.8 and not itself["face_replaced"]


def test_mirrored_letterboxed_copy_is_found_and_erasure_leaves_no_portfolio_trace(
    env: Path, shared_faces: Path
) -> None:
    talent_id, image_id = talent_with_portfolio(env, shared_faces)
    original = edits.decode((shared_faces / ORIGINAL).read_bytes())
    copy = write(env / "mirrored.jpg", edits.letterbox(edits.mirror(original)), quality=60)
    (found,) = scan_json(copy)["mirrored.jpg"]["derived_from"]
    assert found["mirrored"] and found["portfolio_image"] == image_id

    code, output = run("talent", "remove", str(talent_id), "--yes")
    assert code == 0, output
    assert scan_json(copy)["mirrored.jpg"]["derived_from"] == []
    portfolio_dir = env / "var" / "portfolio"
    assert not any(p.is_file() for p in portfolio_dir.rglob("*"))
    engine = create_engine(f"sqlite:///{env / 'var' / 'twinwatch.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("select count(*) from portfolio_images")).scalar() == 0
    engine.dispose()
