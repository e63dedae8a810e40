"""Teacher targets for distillation: finished networks' predictions, averaged over each face and its mirror.

Averaging a network's output on a face and on its mirror image (test-time flip
averaging) and over several networks is more accurate than any one network, but
costs one forward pass per view and network. Training one network on those averaged
predictions (Hinton et al. 2015, "Distilling the knowledge in a neural network")
moves part of that gain into a single network of the same cost per face. The targets
are computed once on the unaugmented training images and cached in the run folder,
with each teacher file's hash: a run can then go on (or move to another machine) without
the teacher files, and still record exactly which networks taught it.

A cache can be made ahead of a run, or a run's cache extended with more teachers, where the
teachers cannot go (a GPU lease carries 64 MiB: the data and the cache, not the teachers' 23 MB):

    python -m models distill --teacher A.onnx --teacher B.onnx --out teacher.npz   # a new cache
    python -m models distill --extend runs/wide-kd/teacher.npz --teacher runs/xla/averaged.keras \
        --out teacher.npz   # then name all the teachers, cached ones first, with models.training.train --teacher

Or, for consistent teaching (recipe ``teaching="consistent"``), the loaded ``Teachers`` predict
every training batch after augmentation, so the student is taught on the faces it sees.
"""

import argparse
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from emostream.labels import NUM_EMOTIONS
from emostream.modelstore import file_sha256
from emostream.preprocess import prepare_faces
from models.classifier import load_classifier
from models.training.architectures import load_float32, with_flip_averaging
from models.training.cleaning import training_split
from models.training.data import add_data_argument, add_ferplus_argument, load_fer2013
from models.training.runfolder import TEACHER_CACHE

log = logging.getLogger(__name__)


def teacher_probabilities(
    teachers: Sequence[Path], images: npt.NDArray[np.uint8], batch_size: int = 256
) -> npt.NDArray[np.float32]:
    """Mean of every teacher's probabilities on each face and on its mirror."""
    return Teachers(teachers, batch_size).predict(images)


class Teachers:
    """Teacher networks loaded once, each averaging a face and its mirror.

    Made for the fixed targets above, and called on every augmented batch for consistent teaching
    (Beyer et al. 2022, "Knowledge distillation: a good teacher is patient and consistent"), where
    the teachers see exactly the faces the student sees, shifted, rotated, flipped or erased."""

    def __init__(self, paths: Sequence[Path], batch_size: int = 256) -> None:
        if not paths:
            raise ValueError("distillation needs at least one teacher network (--teacher PATH)")
        self.paths = list(paths)
        self._predictors = [network_predictor(path, batch_size) for path in self.paths]

    def predict(self, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        total = np.zeros((len(images), NUM_EMOTIONS), dtype=np.float64)
        for predict in self._predictors:
            total += predict(images)
        return (total / len(self.paths)).astype(np.float32)

    def records(self) -> list[dict[str, str]]:
        """Which networks teach: path and sha256 of each file."""
        return [{"path": str(path), "sha256": file_sha256(path)} for path in self.paths]


Predictor = Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.float32]]


def network_predictor(path: Path, batch_size: int = 256, *, mirror_average: bool = True) -> Predictor:
    """A network's probabilities, by default the mean over each face and its mirror: a ``.keras``
    file, or an exported ``.onnx`` artifact (such as the committed served model) through ``load_classifier``.

    Both give the network's own probabilities: a temperature in an artifact's metadata is for
    serving, and would otherwise change the targets whenever a teacher is recalibrated."""
    if path.suffix == ".onnx":
        classifier = load_classifier(path)

        def onnx_views(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
            if not mirror_average:
                return classifier.predict_uncalibrated(images)
            views = classifier.predict_uncalibrated(images) + classifier.predict_uncalibrated(images[:, :, ::-1])
            return np.asarray(views / 2, dtype=np.float32)

        return onnx_views
    model = load_float32(path)
    if mirror_average:
        model = with_flip_averaging(model)

    def keras_views(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        # predict_on_batch per chunk: model.predict sets up a dataset per call, too slow per training batch.
        faces = prepare_faces(images)
        chunks = [
            np.asarray(model.predict_on_batch(faces[start : start + batch_size]), dtype=np.float32)
            for start in range(0, len(faces), batch_size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, NUM_EMOTIONS), dtype=np.float32)

    return keras_views


@dataclass(frozen=True)
class TeacherTargets:
    """Teachers' mirror-averaged probabilities and the teachers that made them (path, sha256)."""

    probabilities: npt.NDArray[np.float32]
    teachers: list[dict[str, str]]


def cached_teacher_probabilities(
    run_dir: Path, teachers: Sequence[Path], images: npt.NDArray[np.uint8]
) -> TeacherTargets:
    """``teacher_probabilities``, reused from the run folder when the same teachers made it for these images.

    The same teachers: the same paths, and where a teacher's file is present, the same bytes as
    when the cache was made (a teacher retrained in place is noticed). An absent file is taken
    from the cache, with the hash recorded there.
    """
    cache = run_dir / TEACHER_CACHE
    key = _cache_key(teachers, images)
    if cache.exists():
        cached = _read_cache(cache, key, teachers)
        if cached is not None:
            return cached
    return write_teacher_cache(teachers, images, cache)


def write_teacher_cache(teachers: Sequence[Path], images: npt.NDArray[np.uint8], out: Path) -> TeacherTargets:
    """The teachers' targets for ``images``, written to ``out`` as a run folder's cache: a run naming
    the same teacher paths takes them from it, with or without the teachers' files."""
    loaded = Teachers(teachers)
    made = TeacherTargets(loaded.predict(images), loaded.records())
    log.info("teachers %s: predicted %d faces and their mirrors", [str(path) for path in teachers], len(images))
    _write_cache(out, _cache_key(teachers, images), made)
    return made


def extend_teacher_cache(
    cache: Path, more: Sequence[Path], images: npt.NDArray[np.uint8], out: Path
) -> tuple[list[Path], TeacherTargets]:
    """A cache for the cached teachers and ``more``, each network weighted equally, as if all had
    been named with ``--teacher`` (cached ones first): made without the cached teachers' files.

    For a machine the cached teachers cannot travel to (a GPU lease carries 64 MiB), where new
    teachers are trained. Returns the teacher paths to name, in order, and the new targets."""
    with np.load(cache) as saved:
        cached_key = json.loads(str(saved["key"]))
        cached = np.asarray(saved["probabilities"], dtype=np.float64)
        records: list[dict[str, str]] = json.loads(str(saved["teachers"]))
    old = [Path(path) for path in cached_key["teachers"]]
    if cached_key["images"] != _images_hash(images):
        raise ValueError(f"{cache} was made for other images than these {len(images)}")
    added = Teachers(more)
    total = cached * len(old) + added.predict(images).astype(np.float64) * len(more)
    teachers = old + list(more)
    made = TeacherTargets((total / len(teachers)).astype(np.float32), records + added.records())
    _write_cache(out, _cache_key(teachers, images), made)
    return teachers, made


def _images_hash(images: npt.NDArray[np.uint8]) -> str:
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()


def _cache_key(teachers: Sequence[Path], images: npt.NDArray[np.uint8]) -> str:
    return json.dumps({"teachers": [str(path) for path in teachers], "images": _images_hash(images)})


def _write_cache(cache: Path, key: str, targets: TeacherTargets) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    teachers = np.array(json.dumps(targets.teachers))
    np.savez(cache, key=np.array(key), probabilities=targets.probabilities, teachers=teachers)


def _read_cache(cache: Path, key: str, teachers: Sequence[Path]) -> TeacherTargets | None:
    with np.load(cache) as saved:
        if str(saved["key"]) != key or "teachers" not in saved:
            log.info("%s was made by other teachers, for other images or without their hashes; recomputing", cache)
            return None
        recorded: list[dict[str, str]] = json.loads(str(saved["teachers"]))
        probabilities = np.asarray(saved["probabilities"], dtype=np.float32)
    for path, record in zip(teachers, recorded, strict=True):
        if path.exists() and file_sha256(path) != record["sha256"]:
            log.info("teacher %s changed since %s was made; recomputing", path, cache)
            return None
    return TeacherTargets(probabilities, recorded)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--extend", type=Path, help="a teacher.npz from a run folder (default: a new cache)")
    parser.add_argument("--teacher", dest="teachers", type=Path, action="append", required=True)
    parser.add_argument("--out", type=Path, required=True, help="the teacher.npz to write")
    add_data_argument(parser)
    add_ferplus_argument(parser)


def run(args: argparse.Namespace) -> None:
    data = load_fer2013(args.data)
    # The faces models.training.train distils on: cleaned Training (every distilling recipe cleans).
    faces = training_split(data, clean=True, ferplus_dir=args.ferplus)
    if args.extend is None:
        teachers, made = args.teachers, write_teacher_cache(args.teachers, faces.x, args.out)
    else:
        teachers, made = extend_teacher_cache(args.extend, args.teachers, faces.x, args.out)
    agreement = float(np.mean(made.probabilities.argmax(axis=1) == faces.y))
    print(json.dumps({"teachers": [str(path) for path in teachers], "top_emotion_is_the_label": round(agreement, 4)}))
