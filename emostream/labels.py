"""The emotion labels, defined once: FER2013's class order 0..6."""

from typing import Final

EMOTIONS: Final[tuple[str, ...]] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
)
NUM_EMOTIONS: Final[int] = len(EMOTIONS)
