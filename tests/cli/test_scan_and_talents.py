"""The `twinwatch` command end to end, with the real default model pack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indexer.demo_fixtures import load_demo_fixture, reference_from_crop
from indexer.imaging import decode_image
from indexer.settings import SHIPPED_PACKS_DIR
from service import cli as service_cli
from tests.conftest import MODEL_CACHE

pytestmark = pytest.mark.model
runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TWINWATCH_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TWINWATCH_MODEL_CACHE_DIR", str(MODEL_CACHE))
    assert run("agencies", "create", "Agency")[0] == 0  # tenants are created explicitly
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(service_cli.app, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One reference photo per demo talent, written to files like an operator would have."""
    fixture = load_demo_fixture()
    source = decode_image(fixture.reference_source.read_bytes(), max_pixels=10**8).bgr
    folder = tmp_path_factory.mktemp("crops")
    paths = {}
    for item in fixture.talents:
        path = folder / f"{item.name.replace(' ', '_')}.jpg"
        path.write_bytes(
            reference_from_crop(
                source,
                item.box,
                scale=item.scale,
                rotate_deg=item.rotate_deg,
                jpeg_quality=item.jpeg_quality,
            )
        )
        paths[item.name] = path
    return paths


def group_photo() -> Path:
    return load_demo_fixture().reference_source


def test_talent_add_reports_accepted_and_rejected_photos(env: Path, crops: dict[str, Path]) -> None:
    not_image = env / "notes.jpg"
    not_image.write_text("hello")
    code, output = run(
        "talent",
        "add",
        "Demo Talent A",
        "--agency",
        "Agency",
        str(crops["Demo Talent A"]),
        str(group_photo()),
        str(not_image),
    )
    assert code == 0, output
    assert "accepted" in output
    assert "6 faces of similar size" in output
    assert "not an image" in output


def test_import_is_idempotent_and_scan_json_names_the_talents(
    env: Path, crops: dict[str, Path]
) -> None:
    root = env / "onboarding"
    for name, path in crops.items():
        (root / name).mkdir(parents=True)
        (root / name / path.name).write_bytes(path.read_bytes())
    code, output = run("talent", "import", str(root), "--agency", "Agency")
    assert code == 0, output
    assert "6 talents (6 new): 6 photos accepted, 0 already enrolled, 0 rejected" in output
    code, output = run("talent", "import", str(root), "--agency", "Agency")
    assert "6 talents (0 new): 0 photos accepted, 6 already enrolled, 0 rejected" in output

    code, output = run("scan", "--json", str(group_photo()))
    assert code == 0, output  # matches are not errors
    report = json.loads(output)
    assert report["pack"]["name"] == "opencv-yunet-sface"
    names = {face["talent"]["name"] for face in report["images"][0]["faces"] if face["talent"]}
    assert names == set(crops)
    assert report["timings"]["faces"] == 6

    code, output = run("talent", "list", "--json")
    assert sorted(t["name"] for t in json.loads(output)) == sorted(crops)


def test_scan_of_a_corrupt_file_reports_it_and_exits_nonzero(env: Path) -> None:
    broken = env / "broken.jpg"
    broken.write_bytes(group_photo().read_bytes()[:2000])
    code, output = run("scan", "--json", str(broken), str(group_photo()))
    assert code == 1
    report = json.loads(output)
    assert report["images"][0]["error"]["code"] == "image_decode_failed"
    assert len(report["images"][1]["faces"]) == 6


def test_remove_erases_the_talent_and_the_index_still_verifies(
    env: Path, crops: dict[str, Path]
) -> None:
    run("talent", "add", "Demo Talent C", "--agency", "Agency", str(crops["Demo Talent C"]))
    run("talent", "add", "Demo Talent D", "--agency", "Agency", str(crops["Demo Talent D"]))
    talents = json.loads(run("talent", "list", "--json")[1])
    talent_c = next(t for t in talents if t["name"] == "Demo Talent C")
    code, output = run("talent", "show", str(talent_c["id"]), "--json")
    assert json.loads(output)["references"][0]["stored"] is True
    code, output = run("talent", "remove", str(talent_c["id"]), "--yes")
    assert code == 0 and "1 photos, 1 embeddings" in output
    code, output = run("index", "verify")
    assert code == 0 and "ok" in output
    report = json.loads(run("scan", "--json", str(group_photo()))[1])
    names = {face["talent"]["name"] for face in report["images"][0]["faces"] if face["talent"]}
    assert names == {"Demo Talent D"}
    assert not (env / "var" / "photos" / str(talent_c["id"])).exists()


def test_migrate_re_embeds_kept_photos_with_another_pack(
    env: Path, crops: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    packs = env / "packs"
    packs.mkdir()
    raw = json.loads((SHIPPED_PACKS_DIR / "opencv-yunet-sface.json").read_text())
    raw.update(
        name="sface-flip",
        version="custom.1",
        source={"kind": "local", "directory": str(MODEL_CACHE / "opencv-yunet-sface")},
    )
    raw["recognizer"]["flip_fusion"] = True
    (packs / "sface-flip.json").write_text(json.dumps(raw))
    monkeypatch.setenv("TWINWATCH_EXTRA_PACKS_DIR", str(packs))
    run("talent", "add", "Demo Talent E", "--agency", "Agency", str(crops["Demo Talent E"]))

    code, output = run("index", "migrate", "--pack", "sface-flip")
    assert code == 0, output
    assert "1 embedded" in output

    monkeypatch.setenv("TWINWATCH_MODEL_PACK", "sface-flip")
    report = json.loads(run("scan", "--json", str(group_photo()))[1])
    assert report["pack"]["name"] == "sface-flip"
    matched = [f for f in report["images"][0]["faces"] if f["talent"]]
    assert [f["talent"]["name"] for f in matched] == ["Demo Talent E"]
    code, output = run("index", "verify")
    assert code == 0, output


def test_models_list_shows_licence_and_presence(env: Path) -> None:
    code, output = run("models", "list")
    assert code == 0
    assert "opencv-yunet-sface 2023mar-2021dec.5 (active)" in output
    assert "present:    yes" in output
    assert "insightface-buffalo_l" in output and "NON-COMMERCIAL" in output


def test_demo_registers_licenses_scans_and_alerts_idempotently(env: Path) -> None:
    code, output = run("demo")
    assert code == 0, output
    assert output.count(" LICENSED ") == 3  # A-C on the licensed shop
    assert output.count("UNLICENSED") == 9  # D-F there, all six on the knock-off site
    assert "no registered talent" in output  # the stranger
    assert "Alerts for Demo Agency: 9" in output
    code, output = run("demo")
    assert code == 0 and output.count("already enrolled") == 6
    assert "Alerts for Demo Agency: 9" in output and "2 sighting(s)" in output


def test_unknown_pack_is_an_operational_error(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINWATCH_MODEL_PACK", "nope")
    code, output = run("scan", str(group_photo()))
    assert code == 1
    assert "model_pack_unknown" in output


def test_talent_add_without_an_accepted_photo_exits_nonzero(env: Path) -> None:
    bad = env / "bad.txt"
    bad.write_text("not a photo")
    code, output = run("talent", "add", "Mia", "--agency", "Agency", str(bad))
    assert code == 1, output
    assert "has no accepted reference photo" in output


def test_import_reports_talents_left_without_an_embedding_as_json(
    env: Path, crops: dict[str, Path]
) -> None:
    root = env / "onboarding"
    (root / "Demo Talent A").mkdir(parents=True)
    (root / "Demo Talent A" / "a.jpg").write_bytes(crops["Demo Talent A"].read_bytes())
    (root / "Nobody").mkdir()
    (root / "Nobody" / "blank.jpg").write_text("not an image")
    result = runner.invoke(
        service_cli.app, ["talent", "import", str(root), "--agency", "Agency", "--json"]
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert [t["name"] for t in report["without_embedding"]] == ["Nobody"]
    assert (report["talents"], report["accepted"], report["rejected"]) == (2, 1, 1)
    nobody = next(item for item in report["items"] if item["name"] == "Nobody")
    assert nobody["embeddings"] == 0 and nobody["rejected"][0]["file"].endswith("blank.jpg")


def test_import_names_a_talent_after_the_folder_with_underscores_as_spaces(
    env: Path, crops: dict[str, Path]
) -> None:
    root = env / "onboarding"
    (root / "Demo_Talent_A").mkdir(parents=True)
    (root / "Demo_Talent_A" / "a.jpg").write_bytes(crops["Demo Talent A"].read_bytes())
    result = runner.invoke(
        service_cli.app, ["talent", "import", str(root), "--agency", "Agency", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert [item["name"] for item in json.loads(result.stdout)["items"]] == ["Demo Talent A"]
    code, output = run("talent", "list", "--json")
    assert code == 0, output
    assert [t["name"] for t in json.loads(output)] == ["Demo Talent A"]


def test_talent_add_never_creates_an_agency(env: Path, crops: dict[str, Path]) -> None:
    code, output = run("talent", "add", "Mia", "--agency", "Agncy", str(crops["Demo Talent A"]))
    assert code == 1
    assert "agency_not_found" in output and "Did you mean 'Agency'?" in " ".join(output.split())
    code, output = run("talent", "list", "--json")
    assert json.loads(output) == []
