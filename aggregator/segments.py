"""A segment: one stretch of one person's track with one label, as ``segments.json`` and ``segments.csv`` hold it.

On its own, so that what only reads segments (the renderer, the report) does not import the tracker.
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Segment:
    track: int
    label: str
    start_ms: int
    end_ms: int
    frames: int
    mean_confidence: float

    def row(self, video_id: str) -> dict[str, Any]:
        return {"video_id": video_id, **self.__dict__}
