"""Training targets: FER2013 one-hot labels, optionally mixed with FER+ annotator votes and a teacher's predictions.

FER2013's labels come from one annotator each; FER+ asked ten people per image. Mixing
the ten votes' distribution into the target tells the network which faces are
ambiguous (a fearful face that half the annotators call surprised) instead of asking it
to be certain of one label. The argmax of the mix is still the FER2013 label wherever
the annotators agree with it, so the network keeps learning the labels it is scored on.
A teacher's probabilities (models/training/distill.py) can be mixed in last, for distillation.
"""

import numpy as np
import numpy.typing as npt

from emostream.labels import NUM_EMOTIONS
from models.training.cleaning import FERPLUS_TO_FER2013


def one_hot(labels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    return np.eye(NUM_EMOTIONS, dtype=np.float32)[labels]


def ferplus_distribution(votes: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Share of each image's votes for our 7 emotions (contempt, unknown, not-a-face left out).

    Returns the distributions and which rows have any emotion vote at all.
    """
    dist = np.zeros((len(votes), NUM_EMOTIONS), dtype=np.float32)
    for column, label in FERPLUS_TO_FER2013.items():
        dist[:, label] = votes[:, column]
    total = dist.sum(axis=1)
    voted = total > 0
    dist[voted] /= total[voted, None]
    return dist, voted


def training_targets(
    labels: npt.NDArray[np.uint8], votes: npt.NDArray[np.uint8] | None, ferplus_weight: float
) -> npt.NDArray[np.float32]:
    """``(1 - w) * one_hot(label) + w * FER+ distribution``; rows without emotion votes stay one-hot."""
    targets = one_hot(labels)
    if ferplus_weight == 0.0:
        return targets
    if votes is None:
        raise ValueError("FER+ soft targets need the FER+ votes (../shared/data/ferplus), which were not found")
    dist, voted = ferplus_distribution(votes)
    targets[voted] = (1.0 - ferplus_weight) * targets[voted] + ferplus_weight * dist[voted]
    return targets


def with_teacher(
    targets: npt.NDArray[np.float32], teacher: npt.NDArray[np.float32] | None, teacher_weight: float
) -> npt.NDArray[np.float32]:
    """``(1 - w) * targets + w * teacher``: the label-based targets mixed with a teacher's probabilities."""
    if teacher_weight == 0.0:
        return targets
    if teacher is None:
        raise ValueError("a teacher share of the targets needs teacher networks (--teacher PATH)")
    if teacher.shape != targets.shape:
        raise ValueError(f"teacher probabilities {teacher.shape} do not match the targets {targets.shape}")
    return ((1.0 - teacher_weight) * targets + teacher_weight * teacher).astype(np.float32)
