"""A finished video's stored results, read back from Redis in frame order a chunk at a time.

The aggregator makes a video's outputs in passes over its results (its people and counts, then
each file). Loaded all at once they took 961 bytes a face, and 1.7 KB with what was made of them:
an hour at 10 fps of a crowd of 20 (720,000 faces) needed 1.4 GB, and a longer recording could need
more than an aggregator's host has: killed for it, an aggregator would take the video up again, over
and over. Now each pass reads them again, ``keys.FINALISE_READ_FRAMES`` frames a round trip, and what outlives a
pass is a few numbers a face (``aggregator.people``).

Another aggregator may store a frame's result again meanwhile (a frame delivered twice), and every
pass must see the same results, or one file would describe other faces than another: each frame's
bytes are checksummed in the first pass, and a later pass that reads other bytes raises
``ResultsChangedError`` (the aggregator starts over). Frames stored after the first pass began are
left out of every pass, as they were left out of the one read before.
"""

import zlib
from array import array
from collections.abc import Iterator
from typing import cast

import redis

from aggregator.pulse import Pulse, no_pulse
from emostream import keys
from emostream.schema import Result


class ResultsChangedError(Exception):
    """A video's stored results changed between two passes of its finalisation."""


class StoredResults:
    """Iterable, again and again, over one video's stored results in frame order (``pulse`` after each)."""

    def __init__(
        self,
        client: "redis.Redis",
        video_id: str,
        pulse: Pulse = no_pulse,
        chunk_frames: int = keys.FINALISE_READ_FRAMES,
    ) -> None:
        self.video_id = video_id
        self._client, self._key = client, keys.video_results_key(video_id)
        self.pulse, self._chunk = pulse, chunk_frames
        self._indices = sorted(int(field) for field in cast(list[bytes], client.hkeys(self._key)))
        self._sums: array[int] | None = None  # each frame's CRC-32, once a pass has read them all

    def __len__(self) -> int:
        return len(self._indices)

    def __iter__(self) -> Iterator[Result]:
        sums = array("I") if self._sums is None else self._sums
        first_pass = self._sums is None
        for start in range(0, len(self._indices), self._chunk):
            part = self._indices[start : start + self._chunk]
            stored = cast(list[bytes | None], self._client.hmget(self._key, [str(index) for index in part]))
            for position, (index, raw) in enumerate(zip(part, stored, strict=True), start=start):
                if raw is None:
                    raise ResultsChangedError(f"{self.video_id}: the result of frame {index} is gone")
                if first_pass:
                    sums.append(zlib.crc32(raw))
                elif sums[position] != zlib.crc32(raw):
                    raise ResultsChangedError(f"{self.video_id}: the result of frame {index} was stored again, changed")
                yield Result.model_validate_json(raw)
                self.pulse()
        self._sums = sums
