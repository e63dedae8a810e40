"""FER2013 loading: the shared npz files, split by the dataset's own ``Usage`` column.

The data folder (``--data``, or ``$EMO_DATA_DIR/fer2013``) holds npz files already split (train.npz = Training,
publictest.npz = PublicTest), and the GPU bundle ``train_publictest.npz.xz`` holds
both. PrivateTest is deliberately absent: it is the final test, not for development.
"""

import argparse
import hashlib
import io
import lzma
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

DATA_DIR_VARIABLE = "EMO_DATA_DIR"  # a folder holding fer2013/ and ferplus/; never guessed from the source tree
BUNDLE_NAME = "train_publictest.npz.xz"


@dataclass(frozen=True)
class Split:
    """One split of FER2013: 48x48 uint8 images and their labels in EMOTIONS order.

    ``votes`` are the row-aligned FER+ annotator votes (10 columns) where they were loaded.
    """

    x: npt.NDArray[np.uint8]
    y: npt.NDArray[np.uint8]
    votes: npt.NDArray[np.uint8] | None = None

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, count: int, seed: int = 0) -> "Split":
        """A stratification-free random subset, for smoke tests."""
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(len(self), size=min(count, len(self)), replace=False))
        return Split(self.x[idx], self.y[idx], None if self.votes is None else self.votes[idx])


@dataclass(frozen=True)
class Fer2013:
    train: Split
    val: Split  # PublicTest, the only split used for model selection

    def sha256(self) -> str:
        """Hash of pixels and labels of both splits: recorded in the artifact's metadata."""
        digest = hashlib.sha256()
        for array in (self.train.x, self.train.y, self.val.x, self.val.y):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


def load_fer2013(path: Path) -> Fer2013:
    """Load Training and PublicTest from a folder of npz files or the .npz.xz bundle."""
    if path.is_file():
        return _load_bundle(path)
    if (path / "train.npz").exists():
        return Fer2013(_load_npz(path / "train.npz"), _load_npz(path / "publictest.npz"))
    if (path / BUNDLE_NAME).exists():
        return _load_bundle(path / BUNDLE_NAME)
    raise FileNotFoundError(f"no FER2013 data in {path} (expected train.npz or {BUNDLE_NAME})")


def _load_npz(path: Path) -> Split:
    with np.load(path) as data:
        return Split(data["x"].astype(np.uint8), data["y"].astype(np.uint8))


def _load_bundle(path: Path) -> Fer2013:
    with lzma.open(path) as fh, np.load(io.BytesIO(fh.read())) as data:
        return Fer2013(
            Split(data["x_train"].astype(np.uint8), data["y_train"].astype(np.uint8)),
            Split(data["x_val"].astype(np.uint8), data["y_val"].astype(np.uint8)),
        )


def data_default(name: str) -> Path | None:
    """``$EMO_DATA_DIR/<name>``, or None where EMO_DATA_DIR is not set."""
    root = os.environ.get(DATA_DIR_VARIABLE)
    return Path(root) / name if root else None


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    """``--data``: required unless EMO_DATA_DIR names the folder holding ``fer2013/``."""
    _add_folder_argument(parser, "--data", "fer2013", "FER2013 folder or .npz.xz bundle")


def add_ferplus_argument(parser: argparse.ArgumentParser) -> None:
    """``--ferplus``: the FER+ votes folder; required unless EMO_DATA_DIR is set."""
    _add_folder_argument(parser, "--ferplus", "ferplus", "FER+ votes folder, for cleaning and soft targets")


def _add_folder_argument(parser: argparse.ArgumentParser, flag: str, name: str, what: str) -> None:
    default = data_default(name)
    help_text = f"{what} (default: ${DATA_DIR_VARIABLE}/{name})"
    parser.add_argument(flag, type=Path, default=default, required=default is None, help=help_text)
