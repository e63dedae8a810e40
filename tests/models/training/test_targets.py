"""Training targets from FER2013 labels, FER+ votes and teacher probabilities, on hand-built inputs."""

import numpy as np
import pytest

from models.training.targets import ferplus_distribution, one_hot, training_targets, with_teacher

# FER+ vote columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF.
VOTES = np.array(
    [
        [0, 8, 2, 0, 0, 0, 0, 0, 0, 0],  # happiness 8, surprise 2
        [0, 0, 0, 0, 0, 0, 0, 3, 4, 3],  # no vote for any of our emotions
        [5, 0, 0, 0, 0, 0, 0, 5, 0, 0],  # neutral 5, contempt 5 (contempt is not ours)
    ],
    dtype=np.uint8,
)
LABELS = np.array([3, 4, 2], dtype=np.uint8)  # happy, sad, fear (FER2013 order)


def test_distribution_maps_columns_to_our_labels_and_leaves_out_other_votes() -> None:
    dist, voted = ferplus_distribution(VOTES)
    assert voted.tolist() == [True, False, True]
    assert dist[0].tolist() == pytest.approx([0, 0, 0, 0.8, 0, 0.2, 0])  # happy 0.8, surprise 0.2
    assert dist[2].tolist() == pytest.approx([0, 0, 0, 0, 0, 0, 1.0])  # all of the emotion votes: neutral


def test_targets_mix_label_and_votes_and_stay_distributions() -> None:
    targets = training_targets(LABELS, VOTES, 0.5)
    assert targets[0].tolist() == pytest.approx([0, 0, 0, 0.9, 0, 0.1, 0])
    assert targets[1].tolist() == one_hot(LABELS)[1].tolist()  # no emotion votes: the label alone
    assert targets[2].tolist() == pytest.approx([0, 0, 0.5, 0, 0, 0, 0.5])
    assert targets.sum(axis=1) == pytest.approx(np.ones(3))


def test_weight_zero_is_one_hot_even_without_votes() -> None:
    assert np.array_equal(training_targets(LABELS, None, 0.0), one_hot(LABELS))


def test_soft_targets_without_votes_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="FER\\+ votes"):
        training_targets(LABELS, None, 0.5)


def test_teacher_share_mixes_in_the_teacher_probabilities() -> None:
    teacher = np.full((3, 7), 1 / 7, dtype=np.float32)
    mixed = with_teacher(one_hot(LABELS), teacher, 0.7)
    assert mixed[0].tolist() == pytest.approx([0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1])
    assert mixed.sum(axis=1) == pytest.approx(np.ones(3))
    assert np.array_equal(with_teacher(one_hot(LABELS), None, 0.0), one_hot(LABELS))


def test_teacher_share_without_a_teacher_or_with_misaligned_rows_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="--teacher"):
        with_teacher(one_hot(LABELS), None, 0.5)
    with pytest.raises(ValueError, match="do not match"):
        with_teacher(one_hot(LABELS), np.zeros((2, 7), dtype=np.float32), 0.5)
