"""The sample video behind `scripts/analyze` without arguments: made from package data, no network."""

import os
import subprocess
import sys
from pathlib import Path

import cv2


def test_the_sample_video_is_made_without_network_or_pip(tmp_path: Path) -> None:
    # Every proxy and package index pointed at the discard port: a download would fail at once.
    dead = "http://127.0.0.1:9"
    env = os.environ | {"http_proxy": dead, "https_proxy": dead, "PIP_INDEX_URL": dead, "PIP_NO_INDEX": "1"}
    out = tmp_path / "sample.mp4"
    command = [sys.executable, "-m", "emostream", "sample-video", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    video = cv2.VideoCapture(str(out))
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = video.read()
    video.release()
    assert ok
    assert frames == 60
    assert frame.shape == (480, 640, 3)
    assert frame.std() > 20  # the portrait, not a blank frame
