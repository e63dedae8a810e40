"""A real RTSP server (GStreamer, Debian packages) on a free loopback port, stoppable and restartable.

For the camera tests and bench/cameras.py; GStreamer runs under Debian's own Python (testkit/rtsp_serve.py).
"""

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2

from emostream.localserver import free_port

SYSTEM_PYTHON = "/usr/bin/python3"
SERVE = Path(__file__).resolve().parent / "rtsp_serve.py"
PACKAGES = "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base/good/bad"


def gstreamer_available() -> bool:
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    try:
        reply = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30, check=False)
    except OSError:
        return False
    return reply.returncode == 0


def extract_frames(video: Path, folder: Path, count: int = 90) -> Path:
    """The first ``count`` frames of ``video`` as JPEG files for the server to loop."""
    folder.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(video))
    for index in range(count):
        ok, image = capture.read()
        if not ok:
            break
        cv2.imwrite(str(folder / f"frame-{index:05d}.jpg"), image)
    capture.release()
    return folder


class RtspServer:
    """Loops ``frames`` (a folder of JPEG frames) encoded as H.264, or sends ``file``'s H.264 as it is."""

    def __init__(self, frames: Path | None, log: Path, fps: int = 15, file: Path | None = None) -> None:
        self.source = ["--frames", str(frames)] if frames is not None else ["--file", str(file)]
        self.log = log
        self.fps = fps
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, mount: str = "cam", userinfo: str = "") -> str:
        return f"rtsp://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}/{mount}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                [SYSTEM_PYTHON, str(SERVE), "--port", str(self.port), *self.source, "--fps", str(self.fps)],
                stdout=subprocess.PIPE, stderr=out,
            )  # fmt: skip
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # "ready" once listening
        assert line.strip() == b"ready", f"RTSP server did not start: {self.log.read_text()[-2000:]}"

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """An RTSP URL whose TCP port accepts connections and never answers: only timeouts end a wait."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)  # connections complete in the kernel's backlog; nothing ever reads or replies
        yield f"rtsp://127.0.0.1:{sock.getsockname()[1]}/never"
