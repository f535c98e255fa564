"""Operator commands without the model pack: tenants are created explicitly (`keys create`
never creates one, a typo would), and a missing model pack is one line, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service import cli as service_cli

runner = CliRunner()


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TWINWATCH_DATA_DIR", str(tmp_path / "var"))
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(service_cli.app, list(args))
    return result.exit_code, " ".join(result.output.split())  # as one line, unwrapped


def tenants(kind: str) -> list[str]:
    result = runner.invoke(service_cli.app, [kind, "list", "--json"])
    assert result.exit_code == 0, result.output
    return [row["name"] for row in json.loads(result.stdout)]


def test_a_key_for_an_unknown_agency_is_refused_with_the_create_command() -> None:
    code, output = run("keys", "create", "--role", "agency", "--agency", "Lumen Model")
    assert code == 1
    assert "tenant_not_found" in output
    assert "twinwatch agencies create 'Lumen Model'" in output
    assert tenants("agencies") == []


def test_a_typo_gets_a_close_match_and_creates_nothing() -> None:
    assert run("agencies", "create", "Lumen Models")[0] == 0
    code, output = run("keys", "create", "--role", "agency", "--agency", "Lumen Model")
    assert code == 1 and "Did you mean 'Lumen Models'?" in output
    assert tenants("agencies") == ["Lumen Models"]
    code, output = run("keys", "create", "--role", "agency", "--agency", "Lumen Models")
    assert code == 0, output
    assert "tw_" in output


@pytest.mark.parametrize(("kind", "role"), [("brands", "brand"), ("monitors", "monitor")])
def test_brands_and_monitors_are_created_explicitly_too(kind: str, role: str) -> None:
    assert run("keys", "create", "--role", role, f"--{role}", "Acme")[0] == 1
    assert run(kind, "create", "Acme")[0] == 0
    assert run("keys", "create", "--role", role, f"--{role}", "Acme")[0] == 0
    assert tenants(kind) == ["Acme"]


def test_creating_a_tenant_twice_is_a_conflict() -> None:
    assert run("agencies", "create", "Lumen Models")[0] == 0
    code, output = run("agencies", "create", "Lumen Models")
    assert code == 1 and "tenant_exists" in output
    assert run("agencies", "create", "  ")[0] == 1


def test_serve_without_the_model_pack_prints_the_one_line_scan_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWINWATCH_MODEL_CACHE_DIR", str(tmp_path / "no-models"))
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not needed")
    scan_code, scan_output = run("scan", str(photo))
    serve_code, serve_output = run("serve", "--port", "1")
    assert scan_code == serve_code == 1
    assert serve_output == scan_output
    assert "model_pack_missing" in serve_output and "Traceback" not in serve_output
    assert len(serve_output) < 400
