"""The Kubernetes manifests (deploy/k8s), checked offline: no cluster is available here.

Core resources are validated against the Kubernetes API schemas (kubernetes-validate, strict:
unknown fields are errors); the KEDA ScaledObject against the fields KEDA documents for it and
its redis-streams trigger. Then what a schema cannot see: every file is in the kustomization,
probes name declared ports, the autoscaler targets the worker Deployment and the frames stream,
and every command and EMO_ variable exists in the product.
"""

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from emostream import keys
from tests.test_docs import OTHER_VARIABLES, emostream_commands, settings_variables

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33"
SCALED_OBJECT = {  # the ScaledObject fields used here, as KEDA documents them (keda.sh/docs, v2)
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer"},
                "cooldownPeriod": {"type": "integer"},
                "triggers": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"const": "redis-streams"},
                            "metadata": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},  # KEDA takes metadata as strings
                                "required": ["stream"],
                                "propertyNames": {
                                    "enum": [
                                        "address",
                                        "host",
                                        "port",
                                        "stream",
                                        "consumerGroup",
                                        "pendingEntriesCount",
                                        "streamLength",
                                        "lagCount",
                                        "activationLagCount",
                                        "databaseIndex",
                                        "enableTLS",
                                        "addressFromEnv",
                                        "passwordFromEnv",
                                        "usernameFromEnv",
                                    ]
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return loaded


def resources() -> list[dict[str, Any]]:
    return [doc for name in kustomization()["resources"] for doc in yaml.safe_load_all((K8S / name).read_text())]


def containers(kind: str | None = None) -> list[dict[str, Any]]:
    return [
        container
        for doc in resources()
        if doc["kind"] in ("Deployment", "StatefulSet") and (kind is None or doc["kind"] == kind)
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]


def test_every_manifest_is_in_the_kustomization_and_every_entry_exists() -> None:
    listed = set(kustomization()["resources"])
    present = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize("doc", resources(), ids=lambda doc: f"{doc['kind']}/{doc['metadata']['name']}")
def test_each_resource_is_valid_for_its_api(doc: dict[str, Any]) -> None:
    if doc["apiVersion"].startswith("keda.sh/"):
        jsonschema.validate(doc, SCALED_OBJECT)
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_manifest() -> None:
    """So a pass above means something: a wrong type and an unknown field are both errors."""
    (worker,) = [doc for doc in resources() if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "worker"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**worker, "spec": {**worker["spec"], "replicas": "two"}}, KUBERNETES_VERSION)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**worker, "spek": {}}, KUBERNETES_VERSION, strict=True)


def test_probes_name_declared_ports_and_every_service_has_one() -> None:
    for container in containers("Deployment"):
        ports = {port["name"] for port in container.get("ports", [])}
        probes = [container[p] for p in ("livenessProbe", "readinessProbe") if p in container]
        assert probes, f"{container['name']} has no probe"
        for probe in probes:
            assert probe["httpGet"]["path"] == "/healthz"
            assert probe["httpGet"]["port"] in ports


def test_the_autoscaler_scales_the_workers_on_the_frames_backlog() -> None:
    (scaled,) = [doc for doc in resources() if doc["kind"] == "ScaledObject"]
    deployments = {doc["metadata"]["name"] for doc in resources() if doc["kind"] == "Deployment"}
    assert scaled["spec"]["scaleTargetRef"]["name"] == "worker" in deployments
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["metadata"]["stream"] == keys.FRAMES_STREAM
    assert trigger["metadata"]["address"] == f"redis.{kustomization()['namespace']}.svc.cluster.local:6379"
    assert 1 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"]


def test_containers_run_real_commands_with_real_settings() -> None:
    known = settings_variables() | OTHER_VARIABLES
    for container in containers():
        if container["image"] != "emostream":
            continue
        assert container["args"][0] in emostream_commands(), container["args"]
        for variable in container.get("env", []):
            assert variable["name"] in known, variable["name"]
