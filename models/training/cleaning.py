"""FER2013 cleaning, with every count reported.

Decisions (applied to Training only; PublicTest stays whole so figures compare with
the literature, and is also scored without its images that occur in Training):

- Training images byte-identical to a PublicTest image are dropped: they leak the
  validation set into training and inflate the figures used to select models.
- Groups of byte-identical images inside Training: one copy is kept when the labels
  agree; the whole group is dropped when they conflict (the label is unknowable).
- Images FER+ annotators mostly call "not a face", and constant (blank) images, are dropped.
"""

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.training.data import Fer2013, Split

# FER+ vote columns -> FER2013 labels; 7 contempt, 8 unknown and 9 not-a-face have none.
FERPLUS_TO_FER2013 = {0: 6, 1: 3, 2: 5, 3: 4, 4: 0, 5: 1, 6: 2}
NOT_A_FACE_COLUMN = 9


@dataclass(frozen=True)
class CleaningReport:
    train_rows: int
    leaked_rows_dropped: int
    duplicate_groups: int
    duplicate_copies_dropped: int
    conflicting_groups: int
    conflicting_rows_dropped: int
    not_a_face_dropped: int
    blank_dropped: int
    kept: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def image_hashes(x: npt.NDArray[np.uint8]) -> list[bytes]:
    return [hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in x]


def load_votes(ferplus_dir: Path, split: str) -> npt.NDArray[np.uint8] | None:
    path = ferplus_dir / f"{split}_votes.npz"
    if not path.exists():
        return None
    with np.load(path) as data:
        votes: npt.NDArray[np.uint8] = data["votes"].astype(np.uint8)
    return votes


def clean_training(train: Split, val: Split, votes: npt.NDArray[np.uint8] | None) -> tuple[Split, CleaningReport]:
    hashes = image_hashes(train.x)
    keep = np.ones(len(train), dtype=bool)
    leaked = np.isin(np.array(hashes, dtype=object), list(set(image_hashes(val.x))))
    keep &= ~leaked
    groups, copies, conflicting, conflicting_rows = _deduplicate(hashes, train.y, keep)
    not_a_face = _not_a_face(votes) & keep if votes is not None else np.zeros(len(train), dtype=bool)
    keep &= ~not_a_face
    blank = (train.x.reshape(len(train), -1).std(axis=1) == 0) & keep
    keep &= ~blank
    report = CleaningReport(
        train_rows=len(train),
        leaked_rows_dropped=int(leaked.sum()),
        duplicate_groups=groups,
        duplicate_copies_dropped=copies,
        conflicting_groups=conflicting,
        conflicting_rows_dropped=conflicting_rows,
        not_a_face_dropped=int(not_a_face.sum()),
        blank_dropped=int(blank.sum()),
        kept=int(keep.sum()),
    )
    return Split(train.x[keep], train.y[keep], None if votes is None else votes[keep]), report


def _deduplicate(
    hashes: list[bytes], labels: npt.NDArray[np.uint8], keep: npt.NDArray[np.bool_]
) -> tuple[int, int, int, int]:
    """Marks dropped copies in ``keep`` (in place); returns the counts."""
    rows_by_hash: dict[bytes, list[int]] = {}
    for row, digest in enumerate(hashes):
        if keep[row]:
            rows_by_hash.setdefault(digest, []).append(row)
    groups = copies = conflicting = conflicting_rows = 0
    for rows in rows_by_hash.values():
        if len(rows) < 2:
            continue
        groups += 1
        if len(set(labels[rows].tolist())) > 1:
            conflicting += 1
            conflicting_rows += len(rows)
            keep[rows] = False
        else:
            copies += len(rows) - 1
            keep[rows[1:]] = False
    return groups, copies, conflicting, conflicting_rows


def _not_a_face(votes: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    others = np.delete(votes, NOT_A_FACE_COLUMN, axis=1).max(axis=1)
    return np.asarray(votes[:, NOT_A_FACE_COLUMN] > others)


def leaked_mask(train: Split, val: Split) -> npt.NDArray[np.bool_]:
    """PublicTest rows whose image also occurs in Training."""
    seen = set(image_hashes(train.x))
    return np.array([digest in seen for digest in image_hashes(val.x)], dtype=bool)


def ferplus_majority(votes: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """FER+ majority labels in FER2013 order, and which rows have one.

    A row has no label when the top vote is tied, or is contempt, unknown or not-a-face
    (none of which is one of our 7 classes).
    """
    top = votes.max(axis=1)
    tied = (votes == top[:, None]).sum(axis=1) > 1
    winner = votes.argmax(axis=1)
    valid = ~tied & np.isin(winner, list(FERPLUS_TO_FER2013))
    labels = np.array([FERPLUS_TO_FER2013.get(int(w), -1) for w in winner], dtype=np.int64)
    return labels, valid


def training_split(data: Fer2013, clean: bool, ferplus_dir: Path) -> Split:
    """The Training faces a recipe trained on: cleaned when it cleans (``Recipe.clean``)."""
    if not clean:
        return data.train
    cleaned, _ = clean_training(data.train, data.val, load_votes(ferplus_dir, "train"))
    return cleaned
