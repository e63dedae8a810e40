"""Cleaning rules on hand-built splits, where every count is known in advance."""

import numpy as np
import numpy.typing as npt

from models.training.cleaning import clean_training, ferplus_majority, leaked_mask
from models.training.data import Split


def _image(seed: int) -> npt.NDArray[np.uint8]:
    return np.random.default_rng(seed).integers(0, 256, size=(48, 48), dtype=np.uint8)


def _votes(column: int, n: int = 1) -> list[int]:
    row = [0] * 10
    row[column] = n
    return row


def test_each_rule_drops_exactly_its_rows() -> None:
    leaked, dup, conflict, alien, plain = _image(1), _image(2), _image(3), _image(4), _image(5)
    blank = np.full((48, 48), 128, dtype=np.uint8)
    #        0       1    2    3         4         5      6      7
    images = [leaked, dup, dup, conflict, conflict, alien, blank, plain]
    labels = [3, 4, 4, 0, 6, 2, 1, 5]
    train = Split(np.stack(images), np.array(labels, dtype=np.uint8))
    val = Split(np.stack([leaked, _image(9)]), np.array([3, 3], dtype=np.uint8))
    votes = np.array([_votes(0, row + 1) for row in range(8)], dtype=np.uint8)  # row-distinct
    votes[5] = _votes(9, 6)  # annotators: not a face

    cleaned, report = clean_training(train, val, votes)

    assert report.as_dict() == {
        "train_rows": 8,
        "leaked_rows_dropped": 1,
        "duplicate_groups": 2,
        "duplicate_copies_dropped": 1,
        "conflicting_groups": 1,
        "conflicting_rows_dropped": 2,
        "not_a_face_dropped": 1,
        "blank_dropped": 1,
        "kept": 2,
    }
    assert cleaned.y.tolist() == [4, 5]  # one copy of the duplicate, and the plain image
    assert np.array_equal(cleaned.x[0], dup)
    assert cleaned.votes is not None
    assert np.array_equal(cleaned.votes, votes[[1, 7]])
    assert leaked_mask(train, val).tolist() == [True, False]


def test_cleaning_without_votes_keeps_faces_annotators_never_saw() -> None:
    train = Split(np.stack([_image(1), _image(2)]), np.array([0, 1], dtype=np.uint8))
    cleaned, report = clean_training(train, Split(np.stack([_image(3)]), np.array([0], dtype=np.uint8)), None)
    assert report.kept == 2
    assert len(cleaned) == 2


def test_ferplus_majority_maps_columns_and_rejects_ties_and_non_emotions() -> None:
    votes = np.array(
        [
            _votes(1, 7),  # happiness -> FER2013 happy (3)
            _votes(4, 7),  # anger -> angry (0)
            [5, 5, 0, 0, 0, 0, 0, 0, 0, 0],  # neutral/happiness tie
            _votes(7, 8),  # contempt
            _votes(8, 8),  # unknown
            _votes(9, 8),  # not a face
        ],
        dtype=np.uint8,
    )
    labels, valid = ferplus_majority(votes)
    assert valid.tolist() == [True, True, False, False, False, False]
    assert labels[:2].tolist() == [3, 0]
