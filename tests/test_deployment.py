"""docker-compose.yml and the Dockerfile, checked for structure (Docker cannot run here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from indexer.settings import PROJECT_ROOT
from service.settings import ServiceSettings

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_runs_api_and_worker_on_postgres() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "migrate", "api", "worker"}
    assert services["db"]["image"].startswith("postgres:")
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["TWINWATCH_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["TWINWATCH_RUN_WORKER_IN_PROCESS"] == "false"
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["api"]["command"] == ["twinwatch", "serve"]
    assert services["worker"]["command"] == ["twinwatch", "worker"]
    assert "8000:8000" in services["api"]["ports"]


def test_schema_is_upgraded_once_before_api_and_worker_start() -> None:
    services = compose()["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["twinwatch", "db", "upgrade"]
    assert migrate["environment"] == services["api"]["environment"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        assert services[name]["image"] == migrate["image"]
        assert services[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully"


def test_api_and_worker_share_the_data_volume() -> None:
    services = compose()["services"]
    mounts = {name: services[name]["volumes"] for name in ("api", "worker")}
    assert mounts["api"] == mounts["worker"] == ["twinwatch-data:/var/lib/twinwatch"]
    assert {"pgdata", "twinwatch-data"} <= set(compose()["volumes"])


def test_compose_environment_names_real_settings() -> None:
    fields = set(ServiceSettings.model_fields)
    for name in ("api", "worker"):
        for variable in compose()["services"][name]["environment"]:
            assert variable.startswith("TWINWATCH_")
            assert variable.removeprefix("TWINWATCH_").lower() in fields, variable


def test_image_builds_the_default_model_pack_in() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0].startswith("FROM python:3.11")
    assert "RUN twinwatch models pull" in lines
    assert lines.index("RUN twinwatch models pull") > lines.index("RUN pip install "
                                                                   "--no-cache-dir -e .")
    assert any(line.startswith("USER ") for line in lines)
    assert 'CMD ["twinwatch", "serve"]' in lines


def test_healthcheck_uses_the_readiness_endpoint() -> None:
    check = compose()["services"]["api"]["healthcheck"]["test"]
    assert any("/ready" in part for part in check)
    assert Path(PROJECT_ROOT / ".dockerignore").read_text().count(".venv") == 1
