"""Set-up for the agency's review and licence tests: the console world of
``tests.support.console`` with an analyser that also draws lookalikes, so a scan can be a
``possible`` match on purpose."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from indexer.engine import BgrImage, Face, StageTimes
from indexer.imaging import FacePhoto
from service.api.app import create_app
from service.startup import start
from tests.support.console import ConsoleWorld, add_talents, add_users, sign_in
from tests.support.fakes import FakeAnalyser, face_photo, identity_vector
from tests.support.service import make_keys, service_settings

#: face_photo(seed=s) paints its background 30 + s % 50: from this value on, the faces in
#: it are lookalikes of their identity (similarity ~0.7: the fake pack's `possible` band).
LOOKALIKE_BACKGROUND = 70
LOOKALIKE_SEED = 45
LOOKALIKE_COSINE = 0.7
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def _lookalike(vector: np.ndarray) -> np.ndarray:
    other = identity_vector(999)
    other = other - float(other @ vector) * vector
    other = other / np.linalg.norm(other)
    mixed = LOOKALIKE_COSINE * vector + np.sqrt(1 - LOOKALIKE_COSINE**2) * other
    unit: np.ndarray = (mixed / np.linalg.norm(mixed)).astype(np.float32)
    return unit


class LookalikeAnalyser(FakeAnalyser):
    """The fake analyser; on a bright background every face is a lookalike instead."""

    def analyse(
        self,
        image: BgrImage | FacePhoto,
        *,
        keep_aligned: bool = False,
        times: StageTimes | None = None,
    ) -> list[Face]:
        faces = super().analyse(image, keep_aligned=keep_aligned, times=times)
        pixels = image.view(1).bgr if isinstance(image, FacePhoto) else image
        if int(pixels[0, 0, 0]) < LOOKALIKE_BACKGROUND:
            return faces
        return [replace(face, embedding=_lookalike(face.embedding)) for face in faces]


def lookalike_photo(identity: int, *, seed: int = LOOKALIKE_SEED) -> bytes:
    assert 30 + seed % 50 >= LOOKALIKE_BACKGROUND
    return face_photo([(identity, 90)], size=130, seed=seed)


@contextmanager
def agency_world(tmp_path: Path, **overrides: Any) -> Iterator[ConsoleWorld]:
    values: dict[str, Any] = {"console_secure_cookies": False, **overrides}
    ctx = start(service_settings(tmp_path, **values), analyser=LookalikeAnalyser())
    talents = add_talents(ctx)
    keys = make_keys(ctx)
    add_users(ctx)
    with TestClient(create_app(context=ctx)) as client:
        yield ConsoleWorld(ctx, client, keys, talents)
    ctx.close()


def bearer(world: ConsoleWorld, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.keys[who]}"}


def scan_bytes(
    world: ConsoleWorld,
    data: bytes,
    *,
    publisher: str = "shop.example",
    page: str = "/p/1",
    **context: str,
) -> dict[str, Any]:
    """A monitor's scan of these exact bytes through the API."""
    response = world.client.post(
        "/v1/scans",
        headers=bearer(world, "monitor"),
        files={"file": ("seen.png", data)},
        data={"page_url": f"https://{publisher}{page}", "publisher": publisher, **context},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def signed_in(world: ConsoleWorld, who: str) -> TestClient:
    """A separate cookie jar on the same app (one 'browser' per person), signed in."""
    client = TestClient(world.client.app)
    response = sign_in(client, world.email(who))
    assert response.status_code == 303, response.text
    return client


def csrf_of(client: TestClient, path: str = "/console/account") -> str:
    match = CSRF_FIELD.search(client.get(path).text)
    assert match is not None
    return match.group(1)
