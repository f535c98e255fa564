"""docker-compose.yml and the Dockerfile, checked for structure (Docker cannot run here)."""

from __future__ import annotations

import os
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from typer.testing import CliRunner

from indexer.settings import PROJECT_ROOT
from service import cli as service_cli
from service.core.settings import ServiceSettings
from service.jobs import worker as worker_module

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
CONSTRAINTS = PROJECT_ROOT / "constraints.txt"
OURS = ("migrate", "api", "worker")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def dockerfile_lines() -> list[str]:
    return [
        line.strip()
        for line in DOCKERFILE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_compose_runs_migration_api_and_worker_on_postgres() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "migrate", "api", "worker"}
    assert services["db"]["image"].startswith("postgres:")
    for name in OURS:
        env = services[name]["environment"]
        assert env["TWINWATCH_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["TWINWATCH_RUN_WORKER_IN_PROCESS"] == "false"
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["migrate"]["command"] == ["twinwatch", "db", "upgrade"]
    assert services["api"]["command"] == ["twinwatch", "serve"]
    assert services["worker"]["command"] == ["twinwatch", "worker"]
    assert "8000:8000" in services["api"]["ports"]


def test_one_image_is_built_here_and_never_pulled() -> None:
    services = compose()["services"]
    assert len({services[name]["image"] for name in OURS}) == 1
    built = [name for name in OURS if "build" in services[name]]
    assert built == ["migrate"] and services["migrate"]["pull_policy"] == "build"
    assert all(services[name]["pull_policy"] == "never" for name in ("api", "worker"))


def test_migrations_run_once_before_api_and_worker_which_restart() -> None:
    services = compose()["services"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert services[name]["restart"] == "unless-stopped"
        assert services[name]["healthcheck"]["test"]
    assert services["worker"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    assert services["db"]["restart"] == "unless-stopped"


def test_schema_is_upgraded_once_before_api_and_worker_start() -> None:
    services = compose()["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["twinwatch", "db", "upgrade"]
    assert migrate["environment"] == services["api"]["environment"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        assert services[name]["image"] == migrate["image"]
        assert (
            services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )


def test_api_and_worker_share_the_data_volume() -> None:
    services = compose()["services"]
    mounts = {name: services[name]["volumes"] for name in OURS}
    assert mounts["api"] == mounts["worker"] == ["twinwatch-data:/var/lib/twinwatch"]
    assert {"pgdata", "twinwatch-data"} <= set(compose()["volumes"])


def test_compose_environment_names_real_settings() -> None:
    fields = set(ServiceSettings.model_fields)
    for name in OURS:
        for variable in compose()["services"][name]["environment"]:
            assert variable.startswith("TWINWATCH_")
            assert variable.removeprefix("TWINWATCH_").lower() in fields, variable


def test_image_installs_pinned_headless_dependencies_and_the_model_pack() -> None:
    lines = dockerfile_lines()
    assert lines[0].startswith("FROM python:3.11")
    install = next(n for n, line in enumerate(lines) if line.startswith("RUN pip install"))
    assert "-c constraints.txt" in lines[install]
    assert "pip uninstall -y opencv-python" in " ".join(lines)
    assert "libgl1" not in " ".join(lines)
    assert "RUN twinwatch models pull" in lines
    assert lines.index("RUN twinwatch models pull") > install
    assert any(line.startswith("USER ") for line in lines)
    assert 'CMD ["twinwatch", "serve"]' in lines


def test_constraints_pin_every_runtime_dependency() -> None:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line and not line.startswith("#"):
            requirement = Requirement(line)
            [spec] = requirement.specifier
            assert spec.operator == "==", line
            pins[canonicalize_name(requirement.name)] = spec.version
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name]), (name, pins[name])
    assert "opencv-python-headless" in pins and "opencv-python" not in {
        canonicalize_name(Requirement(d).name) for d in project["dependencies"]
    }


def test_healthcheck_uses_the_readiness_endpoint() -> None:
    check = compose()["services"]["api"]["healthcheck"]["test"]
    assert any("/ready" in part for part in check)
    assert Path(PROJECT_ROOT / ".dockerignore").read_text().count(".venv") == 1


def test_worker_healthcheck_reports_a_stalled_or_missing_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert compose()["services"]["worker"]["healthcheck"]["test"] == [
        "CMD",
        "twinwatch",
        "worker",
        "--check",
    ]
    heartbeat = tmp_path / "alive"
    monkeypatch.setattr(worker_module, "HEARTBEAT", heartbeat)
    runner = CliRunner()
    assert runner.invoke(service_cli.app, ["worker", "--check"]).exit_code == 1
    worker_module.beat()
    assert runner.invoke(service_cli.app, ["worker", "--check"]).exit_code == 0
    stale = time.time() - worker_module.HEARTBEAT_MAX_AGE_S - 5
    os.utime(heartbeat, (stale, stale))
    result = runner.invoke(service_cli.app, ["worker", "--check"])
    assert result.exit_code == 1 and "stalled" in result.output
