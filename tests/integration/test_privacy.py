"""What is on the Redis disk: frame JPEGs (faces) leave the AOF soon after they are processed."""

from pathlib import Path

import pytest
import redis

from emostream.localserver import LocalServer, system_server_binary
from tests.conftest import VIDEOS, require_shared
from tests.integration.processes import run, running, wait_for

pytestmark = pytest.mark.integration

JPEG_START = b"\xff\xd8\xff"  # every frame on the stream begins so (SOI and the next marker)


def jpeg_files(folder: Path) -> list[str]:
    return [path.name for path in folder.rglob("*") if path.is_file() and JPEG_START in path.read_bytes()]


def test_no_frame_stays_in_the_append_only_file_once_its_video_is_done(tmp_path: Path) -> None:
    binary = system_server_binary()
    if binary is None:
        pytest.skip("redis-server is not installed")
    video = require_shared(VIDEOS / "fer_woman2.mp4")
    # The deployment's persistence (docker-compose.yml): AOF, fsync every second, no RDB snapshots.
    with LocalServer(binary, ("--appendonly", "yes", "--appendfsync", "everysec")) as server:
        url = ["--redis-url", server.url]
        client = redis.Redis.from_url(server.url)
        with (
            running(["worker", *url], tmp_path / "worker.log"),
            running(
                ["aggregator", "--out", str(tmp_path / "out"), *url],
                tmp_path / "aggregator.log",
                env={"EMO_AGGREGATOR_AOF_SCRUB_S": "2"},
            ),
        ):
            produced = run("produce", str(video), "--video-id", "v", "--fps", "4", *url)
            assert produced.returncode == 0, produced.stderr
            assert jpeg_files(server.data_dir), "the frames went through the AOF (else this test proves nothing)"
            wait_for(lambda: client.hget("emo:video:{v}", "status") == b"complete", 120, "the video to complete")
            wait_for(lambda: not jpeg_files(server.data_dir), 30, "the frames to leave the AOF")
        assert client.xlen("emo:frames") == 0
        assert client.hlen("emo:video:{v}:results") > 0  # the results themselves are kept
