"""Reading the committed deployment files as data: the dashboard's queries and the provisioned datasource."""

import json
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "monitoring" / "grafana" / "dashboards" / "emostream.json"
DATASOURCES = REPO / "monitoring" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROMETHEUS_CONFIG = REPO / "monitoring" / "prometheus" / "prometheus.yml"
COMPOSE = REPO / "docker-compose.yml"

# Series Prometheus makes itself, not found in any process's /metrics.
PROMETHEUS_SYNTHETIC = frozenset({"up"})
_STRIP = (r'"[^"]*"', r"\{[^}]*\}", r"\[[^\]]*\]", r"\b(?:by|without|ignoring|on)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")  # not followed by "(": not a function
_KEYWORDS = frozenset({"group_left", "group_right", "and", "or", "unless", "bool", "offset"})


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def queries() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel["targets"]]


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers left once strings, label matchers,
    ranges and grouping clauses are removed, other than functions and keywords."""
    for pattern in _STRIP:
        expr = re.sub(pattern, " ", expr)
    return {name for name in _IDENTIFIER.findall(expr) if name not in _KEYWORDS}


def for_range(expr: str, window: str = "30s") -> str:
    """Grafana's $__rate_interval, given a fixed value for a direct Prometheus query."""
    return expr.replace("$__rate_interval", window)
