"""Running the API under uvicorn with the project's two-stage stop, like every other service.

uvicorn's own signal handling re-raises SIGTERM after its graceful shutdown, so the process
would end "killed by SIGTERM" (exit -15); here the first SIGTERM stops accepting and lets the
requests in hand finish (``GRACE_S``), the second exits at once, and a clean stop exits 0.
"""

import contextlib
import logging
from collections.abc import Iterator

import redis
import uvicorn

from api.app import create_app
from emostream.lifecycle import install_stop_handlers
from emostream.settings import ApiSettings

log = logging.getLogger(__name__)

GRACE_S = 10  # below compose's stop_grace_period


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # ours are installed instead
        yield


def serve(settings: ApiSettings, client: "redis.Redis", log_level: str) -> None:
    app = create_app(settings, client)
    # uvicorn's access log shows paths and statuses only: tokens travel in a header it never logs.
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=log_level, timeout_graceful_shutdown=GRACE_S
    )
    server = _Server(config)
    install_stop_handlers(lambda: setattr(server, "should_exit", True))
    log.info("API on http://%s:%d (docs at /docs), Redis %s", settings.host, settings.port, settings.redis_url_redacted)
    server.run()
