"""`twinwatch scan` on a video: one record with "kind": "video", its duration and its
face tracks (time ranges, the talent, the box at the best frame); images keep their shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.clips import Actor, Shot, encode, lfw_people, photos_of, read_still, reference_jpeg
from tests.cli.test_scan_and_talents import env, run  # noqa: F401  (the CLI's environment)

pytestmark = [pytest.mark.model, pytest.mark.shared_faces]


@pytest.fixture
def enrolled(env: Path, shared_faces: Path) -> tuple[Path, Path]:  # noqa: F811
    """One talent enrolled through `talent import`, and a stranger."""
    talent, stranger = lfw_people(shared_faces / "lfw", 2, photos=2)
    folder = env / "onboarding" / "Talent_One"
    folder.mkdir(parents=True)
    first = photos_of(talent)[0]
    (folder / first.name).write_bytes(reference_jpeg(first))
    code, output = run("talent", "import", str(env / "onboarding"), "--agency", "Agency")
    assert code == 0, output
    return talent, stranger


def test_scan_json_reports_a_video_as_tracks_with_time_ranges(
    env: Path,  # noqa: F811
    enrolled: tuple[Path, Path],
) -> None:
    talent, stranger = enrolled
    a, c = read_still(photos_of(talent)[1]), read_still(photos_of(stranger)[1])
    clip = encode(
        [
            Shot(2.0, (150, 120, 40), [Actor("C", c, (0.5, 0.5, 0.7), (0.5, 0.5, 0.7))]),
            Shot(3.0, (40, 60, 90), [Actor("A", a, (0.4, 0.5, 0.7), (0.6, 0.5, 0.8))]),
        ],
        env / "clip.mp4",
        size=(480, 270),
        fps=15,
    )
    code, output = run("scan", "--json", str(clip))
    assert code == 0, output
    [record] = json.loads(output)["images"]
    assert record["kind"] == "video"
    assert record["format"] == "video/mp4"
    assert record["duration_s"] == pytest.approx(5.0, abs=0.1)
    assert [t["talent"] and t["talent"]["name"] for t in record["tracks"]] == [
        None,
        "Talent One",
    ]
    stranger_track, talent_track = record["tracks"]
    assert talent_track["band"] == "match"
    assert talent_track["start_s"] == pytest.approx(2.0, abs=0.5)
    assert talent_track["end_s"] == pytest.approx(5.0, abs=0.5)
    assert 2.0 <= talent_track["best_frame_s"] <= 5.0
    assert len(talent_track["box"]) == 4
    assert stranger_track["end_s"] == pytest.approx(2.0, abs=0.5)


def test_scan_of_a_hostile_video_reports_the_error_and_exits_nonzero(
    env: Path,  # noqa: F811
) -> None:
    broken = env / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 16)
    code, output = run("scan", "--json", str(broken))
    assert code == 1
    [record] = json.loads(output)["images"]
    assert record["error"]["code"] == "video_decode_failed"
