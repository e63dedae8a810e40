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

# One colour per emotion, the same in every plot, report and rendered video (hex RGB).
# Colour-blind-safe where it matters most (Okabe-Ito), "uncertain" a neutral grey.
EMOTION_COLORS: Final[dict[str, str]] = {
    "angry": "#D55E00",
    "disgust": "#009E73",
    "fear": "#CC79A7",
    "happy": "#F0E442",
    "sad": "#0072B2",
    "surprise": "#E69F00",
    "neutral": "#56B4E9",
    "uncertain": "#BBBBBB",
}
