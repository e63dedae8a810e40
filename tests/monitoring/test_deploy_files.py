"""The compose file, Prometheus config and Grafana dashboard, validated as data and by their own tools."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.monitoring.dashboard import (
    COMPOSE,
    DATASOURCES,
    PROMETHEUS_CONFIG,
    REPO,
    dashboard,
    load_yaml,
    metric_names,
    panels,
    queries,
)


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (apt-get install {package}; scripts/setup dev does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def test_compose_file_is_valid_for_docker_compose(tmp_path: Path) -> None:
    tool = require_tool("docker-compose", "docker-compose")
    result = subprocess.run(
        [tool, "--project-directory", str(REPO), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_compose_has_every_service_the_deployment_needs() -> None:
    services = load_yaml(COMPOSE)["services"]
    wanted = {"redis", "uploads", "cameras", "worker", "aggregator", "api", "prometheus", "grafana", "redis-exporter"}
    assert set(services) >= wanted
    assert "everysec" in services["redis"]["command"]
    assert "healthcheck" in services["redis"]
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])
    for name in ("uploads", "cameras", "worker", "aggregator"):
        assert services[name]["healthcheck"]["test"][-1] == "--check", name
        assert "container_name" not in services[name]  # scalable with --scale
    assert "./uploads:/uploads" in services["uploads"]["volumes"]
    assert "./out:/out" in services["aggregator"]["volumes"]
    assert services["cameras"]["command"] == ["camera", "--config", "/config/cameras.toml"]
    assert services["api"]["command"][:3] == ["api", "--out", "/out"]  # reads what the aggregator writes
    assert "./out:/out" in services["api"]["volumes"]
    assert "/healthz" in services["api"]["healthcheck"]["test"][-1]


def test_the_example_camera_config_loads() -> None:
    from producer.camera import load_cameras

    (camera,) = load_cameras(REPO / "monitoring" / "cameras.toml")
    assert camera.source_kind == "rtsp"


def test_serving_image_installs_no_training_stack() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "pip wheel --no-cache-dir --wheel-dir /wheels ." in dockerfile  # the bare package: no [train] extra
    assert "tensorflow" not in dockerfile.lower().replace("tensorflow is the", "")
    assert "emostream models fetch" in dockerfile  # YuNet baked in, hash checked, at build time
    for package in ("emostream", "producer", "worker", "aggregator", "api", "models"):
        assert f"COPY {package} {package}" in dockerfile


def test_prometheus_config_passes_promtool() -> None:
    tool = require_tool("promtool", "prometheus")
    result = subprocess.run(
        [tool, "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_every_service_under_the_job_names_the_dashboard_uses() -> None:
    jobs = {job["job_name"] for job in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]}
    assert {"emostream-producer", "emostream-worker", "emostream-aggregator", "emostream-api", "redis"} <= jobs
    used = {job for expr in queries() for job in ("emostream-worker",) if job in expr}
    assert used <= jobs


def test_every_panel_uses_the_provisioned_datasource() -> None:
    (source,) = load_yaml(DATASOURCES)["datasources"]
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]


def test_dashboard_panels_have_unique_ids_and_descriptions() -> None:
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["description"], panel["title"]
        assert metric_names(" ".join(t["expr"] for t in panel["targets"])), panel["title"]


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(emostream_stage_seconds_bucket[$__rate_interval]))) + up{job="x"}'
    )
    assert metric_names(expr) == {"emostream_stage_seconds_bucket", "up"}
