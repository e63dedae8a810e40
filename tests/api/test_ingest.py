"""The upload spool: a render waiting for its video never holds up the sending of other uploads."""

import shutil
import time
from pathlib import Path

import fakeredis

from api.ingest import Ingest, UploadOptions
from emostream import registry
from emostream.settings import ApiSettings


def test_an_upload_waiting_to_be_rendered_does_not_hold_up_the_next_one(astronaut_video: Path, tmp_path: Path) -> None:
    client = fakeredis.FakeRedis()  # the producer writes to it; no aggregator, so "first" never finishes
    ingest = Ingest(ApiSettings(out_dir=tmp_path / "out", producers=1), client)
    try:
        for video_id, render in (("first", True), ("second", False)):
            upload = tmp_path / f"{video_id}.part"
            shutil.copy(astronaut_video, upload)
            ingest.accept(video_id, upload, UploadOptions(render=render, filename="astronaut.mp4"))
        deadline = time.monotonic() + 30
        # Its spool folder goes just after its frames are sent (frames_expected set): wait for both.
        while time.monotonic() < deadline and not (_sent(client, "second") and not (ingest.spool / "second").exists()):
            time.sleep(0.1)
        assert _sent(client, "second")  # though "first" never finishes, so its render waits
        assert (ingest.spool / "first").is_dir()  # kept until rendered
        assert not (ingest.spool / "second").exists()
    finally:
        ingest.close()
    assert (ingest.spool / "first" / "job.json").is_file()  # a stop leaves it for the next start


def _sent(client: "fakeredis.FakeRedis", video_id: str) -> bool:
    record = registry.read(client, video_id)
    return record is not None and record.frames_expected is not None
