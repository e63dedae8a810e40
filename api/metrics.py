"""The API's metrics, in their own registry: requests by route template and status, upload bytes."""

from prometheus_client import CollectorRegistry, Counter, Histogram

from emostream import metrics as core

REGISTRY = CollectorRegistry()
REQUESTS = Counter("emostream_api_requests_total", "HTTP requests", ["method", "route", "status"], registry=REGISTRY)
REQUEST_SECONDS = Histogram(
    "emostream_api_request_seconds", "Time to answer an HTTP request", ["method", "route"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)  # fmt: skip
AUTH_REFUSED = Counter(
    "emostream_api_auth_refused_total", "Tokens refused: wrong_token (counted against the address), "
    "throttled (its address failed too often)", ["reason"], registry=REGISTRY,
)  # fmt: skip
UPLOAD_BYTES = Counter("emostream_api_upload_bytes_total", "Bytes of videos received", registry=REGISTRY)
REGISTRY.register(core.BUILD)  # build info and the producer's counters, as every process shows them
