# The serving image for every emostream process (watch/produce, worker, aggregator, api).
# It carries ONNX Runtime and OpenCV, not the training stack (TensorFlow is the
# "train" extra and never installed here).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY emostream emostream
COPY producer producer
COPY worker worker
COPY aggregator aggregator
COPY api api
COPY models models
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=build /wheels /wheels
# The YuNet face detector is fetched once, at build time, and checked against its pinned SHA-256.
ENV EMO_MODEL_DIR=/opt/emostream/models
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && emostream models fetch --dir /opt/emostream/models \
    && useradd --create-home --uid 10001 emostream
USER 10001
# Metrics listen on every interface inside the container so Prometheus can scrape them.
ENV PYTHONUNBUFFERED=1 \
    EMO_PRODUCER_METRICS_HOST=0.0.0.0 EMO_PRODUCER_METRICS_PORT=9101 \
    EMO_WORKER_METRICS_HOST=0.0.0.0 EMO_WORKER_METRICS_PORT=9102 \
    EMO_AGGREGATOR_METRICS_HOST=0.0.0.0 EMO_AGGREGATOR_METRICS_PORT=9103
ENTRYPOINT ["emostream"]
