"""deploy/kubernetes/: valid against the Kubernetes schemas (offline, kubernetes-validate),
and wired as documented: probes on /ready and /health, configuration from the Secret, a
HorizontalPodAutoscaler for the workers, no volume shared between pods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from indexer.settings import PROJECT_ROOT

kubernetes_validate = pytest.importorskip("kubernetes_validate")

MANIFESTS = PROJECT_ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"


def documents() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        found += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in documents() if doc["kind"] == kind}


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


@pytest.mark.parametrize(("path", "doc"), documents(), ids=lambda v: getattr(v, "name", ""))
def test_every_manifest_is_valid_against_the_kubernetes_schema(
    path: Path, doc: dict[str, Any]
) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_an_invalid_manifest_is_refused() -> None:
    broken = by_kind("Deployment")["twinwatch-api"] | {"spec": {"replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_api_is_ready_on_ready_and_alive_on_health() -> None:
    [api] = containers(by_kind("Deployment")["twinwatch-api"])
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"


def test_every_pod_takes_its_configuration_from_the_secret_and_shares_no_volume() -> None:
    secret = by_kind("Secret")["twinwatch"]
    assert secret["stringData"]["TWINWATCH_BLOB_STORE_URL"].startswith("s3://")
    pods = [d["spec"]["template"]["spec"] for d in by_kind("Deployment").values()]
    pods += [j["spec"]["template"]["spec"] for j in by_kind("Job").values()]
    for pod in pods:
        for container in pod["containers"]:
            assert {"secretRef": {"name": "twinwatch"}} in container["envFrom"]
        for volume in pod.get("volumes", []):
            assert set(volume) == {"name", "emptyDir"}, volume  # local and derived only


def test_workers_scale_on_queue_depth_and_cpu() -> None:
    hpa = by_kind("HorizontalPodAutoscaler")["twinwatch-worker"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "twinwatch-worker"
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["External"]["external"]["metric"]["name"] == "twinwatch_job_items"


def test_compose_with_a_blob_store_shares_no_data_volume_between_api_and_workers() -> None:
    class ComposeLoader(yaml.SafeLoader):
        pass

    ComposeLoader.add_constructor("!reset", lambda _loader, _node: "!reset")
    base = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())["services"]
    blobs = yaml.load(
        (PROJECT_ROOT / "docker-compose.blobs.yml").read_text(), Loader=ComposeLoader
    )["services"]
    assert "twinwatch-data:/var/lib/twinwatch" in base["worker"]["volumes"]  # one-machine mode
    for name in ("migrate", "api", "worker"):
        assert blobs[name]["volumes"] == "!reset", name
    for name in ("api", "worker"):
        assert blobs[name]["environment"]["TWINWATCH_BLOB_STORE_URL"].startswith("s3://")
