"""The RTSP server harness for camera tests: skips (or fails under CI) where GStreamer is missing."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from testkit.rtsp import PACKAGES, RtspServer, extract_frames, gstreamer_available, silent_endpoint

__all__ = ["extract_frames", "require_gstreamer", "rtsp_server", "silent_endpoint"]


def require_gstreamer() -> None:
    if not gstreamer_available():
        message = f"GStreamer's RTSP server is not installed ({PACKAGES}; scripts/setup dev installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def rtsp_server(frames: Path | None, log: Path, file: Path | None = None) -> Iterator[RtspServer]:
    """Looping ``frames`` encoded as H.264, or sending ``file``'s H.264 as it is coded."""
    require_gstreamer()
    server = RtspServer(frames, log, file=file)
    server.start()
    try:
        yield server
    finally:
        server.stop()
