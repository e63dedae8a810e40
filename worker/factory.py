"""Building a worker from its settings: the model and the detector are loaded once, here."""

import logging

import cv2
import redis

from emostream.settings import WorkerSettings
from models.classifier import load_classifier
from worker.batch import BatchProcessor
from worker.detectors import create_detector
from worker.worker import Worker, default_consumer_name

log = logging.getLogger(__name__)


def create_worker(settings: WorkerSettings, client: "redis.Redis") -> Worker:
    cv2.setNumThreads(settings.threads)
    classifier = load_classifier(settings.model_path, settings.threads)
    detector = create_detector(settings)
    name = settings.name or default_consumer_name()
    log.info(
        "worker %s: model %s, detector %s, %d inference threads, Redis %s",
        name,
        classifier.version,
        detector.name,
        settings.threads,
        settings.redis_url_redacted,
    )
    return Worker(settings, client, BatchProcessor(detector, classifier, name, settings.detect_interval_ms))
