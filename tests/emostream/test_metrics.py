"""The /metrics and /healthz server, and the liveness it reports."""

import urllib.error
import urllib.request

import pytest

from emostream import metrics
from emostream.errors import ConfigError


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return int(reply.status), reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_health_and_unknown_paths() -> None:
    liveness = metrics.Liveness(ttl_s=60)
    metrics.init_labels("worker", model_version="m1", detector="haar")
    server = metrics.serve("127.0.0.1", 0, liveness)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        code, body = get(f"{base}/metrics")
        assert code == 200
        # a zero series made by init_labels; one no other test increments (the registry is per process)
        assert 'emostream_frames_dropped_total{reason="redis",source_kind="device"} 0.0' in body
        assert 'role="worker"' in body
        assert 'model_version="m1"' in body
        assert get(f"{base}/healthz")[0] == 200
        liveness.ttl_s = -1  # nothing beats within a negative window: stale
        code, body = get(f"{base}/healthz")
        assert code == 503
        assert '"ok": false' in body
        assert get(f"{base}/nothing")[0] == 404
        with pytest.raises(ConfigError, match="choose another metrics port"):
            metrics.serve("127.0.0.1", server.server_port, liveness)
    finally:
        server.shutdown()


def test_liveness_reports_at_most_every_interval() -> None:
    reports: list[int] = []
    liveness = metrics.Liveness(report=lambda: reports.append(1), report_every_s=3600)
    for _ in range(5):
        liveness.beat()
    assert reports == [1]
