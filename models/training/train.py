"""Train an emotion CNN on FER2013 with a recorded recipe; resumable.

    python -m models train --arch vggbn --out runs/vggbn [--epochs N] [--limit N]
    python -m models train --arch vggbn-distill --from runs/vggbn --out runs/distill \
        --teacher runs/vggbn/averaged.keras --teacher runs/vggbn-onehot/averaged.keras

Backend-agnostic Keras 3: TensorFlow on a CPU, JAX or PyTorch on a GPU machine.
Each epoch writes ``checkpoint.keras`` (model and optimizer state) and appends to
``history.csv``; running the same command again resumes after the last finished
epoch. The best epoch by PublicTest accuracy is kept as ``best.keras``, and every
epoch's model in ``snapshots/`` for weight averaging (``models.training.average``).
"""

import argparse
import dataclasses
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import numpy.typing as npt

from emostream.preprocess import prepare_faces
from models.training.architectures import all_architectures, dtype_policy, multiply_adds
from models.training.augment import Augmentation, mix_up
from models.training.average import SNAPSHOTS, snapshot_name
from models.training.cleaning import clean_training, load_votes
from models.training.data import Split, add_data_argument, add_ferplus_argument, load_fer2013
from models.training.distill import Teachers, cached_teacher_probabilities
from models.training.recipes import PRECISIONS, Recipe, all_recipes
from models.training.runfolder import (
    HISTORY,
    STATE,
    TEACHER_CACHE,
    best_logged,
    epochs_done,
    trim_history,
    write_atomically,
    write_epochs_done,
)
from models.training.sam import enable_sam
from models.training.schedules import CosineRestarts
from models.training.targets import one_hot, training_targets, with_teacher

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.keras"
BEST = "best.keras"
MONITOR = "val_accuracy"  # what makes an epoch the best: accuracy on PublicTest


@dataclass(frozen=True)
class ConsistentTeaching:
    """Teachers that predict each batch as augmented, and their share of its targets."""

    teachers: Teachers
    weight: float


class FerBatches(keras.utils.PyDataset):  # type: ignore[misc]
    """Shuffled, optionally augmented batches of prepared faces and their row-aligned targets (training/targets.py).

    With ``teaching``, the teachers' predictions on the augmented faces are mixed into each batch's targets."""

    def __init__(
        self,
        split: Split,
        targets: npt.NDArray[np.float32],
        batch_size: int,
        augmentation: Augmentation | None,
        seed: int,
        *,
        teaching: ConsistentTeaching | None = None,
        mixup: float = 0.0,
    ) -> None:
        super().__init__()
        if len(targets) != len(split):
            raise ValueError(f"{len(targets)} targets for {len(split)} images")
        self.split = split
        self.targets = targets
        self.batch_size = batch_size
        self.augmentation = augmentation
        self.teaching = teaching
        self.mixup = mixup
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(split))

    def __len__(self) -> int:
        return math.ceil(len(self.split) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images = self.split.x[idx]
        if self.augmentation is not None:
            images = self.augmentation.apply(images, self.rng)
        targets = self.targets[idx]
        if self.teaching is not None:
            targets = with_teacher(targets, self.teaching.teachers.predict(images), self.teaching.weight)
        return mix_up(prepare_faces(images), targets, self.mixup, self.rng)

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.split))


def build_model(recipe: Recipe, steps_per_epoch: int) -> keras.Model:
    model = all_architectures()[recipe.arch]()
    model.compile(
        optimizer=_optimizer(recipe, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
    )
    if recipe.sam_rho:
        enable_sam(model, recipe.sam_rho)
    return model


def _optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    rate: float | keras.optimizers.schedules.LearningRateSchedule = recipe.learning_rate
    if recipe.schedule == "cosine":
        rate = CosineRestarts(
            peak=recipe.learning_rate,
            cycle_steps=[epochs * steps_per_epoch for epochs in recipe.cycles()],
            warmup_steps=recipe.warmup_epochs * steps_per_epoch,
            restart_decay=recipe.restart_decay,
        )
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(
            learning_rate=rate, momentum=0.9, nesterov=True, weight_decay=recipe.weight_decay or None
        )
    if recipe.weight_decay:
        return keras.optimizers.AdamW(learning_rate=rate, weight_decay=recipe.weight_decay)
    return keras.optimizers.Adam(learning_rate=rate)


class SaveState(keras.callbacks.Callback):  # type: ignore[misc]
    """Records the last finished epoch next to the checkpoint, for resuming."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        write_epochs_done(self.run_dir, epoch + 1)


def train(
    recipe: Recipe,
    data_dir: Path,
    run_dir: Path,
    limit: int | None,
    ferplus_dir: Path,
    *,
    teachers: Sequence[Path] = (),
) -> keras.Model:
    keras.utils.set_random_seed(recipe.seed)
    with dtype_policy(recipe.precision):  # only for this run: what runs next builds float32 networks
        return _train(
            recipe, data_dir=data_dir, run_dir=run_dir, limit=limit, ferplus_dir=ferplus_dir, teachers=teachers
        )


def _train(
    recipe: Recipe,
    *,
    data_dir: Path,
    run_dir: Path,
    limit: int | None,
    ferplus_dir: Path,
    teachers: Sequence[Path],
) -> keras.Model:
    data = load_fer2013(data_dir)
    votes = load_votes(ferplus_dir, "train")
    cleaning = None
    train_split = dataclasses.replace(data.train, votes=votes)
    if recipe.clean:
        train_split, report = clean_training(data.train, data.val, votes)
        cleaning = report.as_dict()
        log.info("cleaning: %s", cleaning)
    train_split = train_split if limit is None else train_split.subset(limit, recipe.seed)
    val_split = data.val if limit is None else data.val.subset(limit, recipe.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    done = epochs_done(run_dir) if (run_dir / CHECKPOINT).exists() else 0
    # Seeded by the epoch it starts at, so a resumed run does not replay the first epochs' batches
    # (a fresh run keeps the recipe's seed).
    targets, teacher_records, teaching = _targets(recipe, train_split, run_dir, teachers)
    augmentation = augmentation_for(recipe)
    batches = FerBatches(
        train_split,
        targets,
        recipe.batch_size,
        augmentation,
        _batch_seed(recipe, done),
        teaching=teaching,
        mixup=recipe.mixup,
    )
    model = build_model(recipe, len(batches))
    if done:
        log.info("resuming %s after epoch %d", run_dir, done)
        _restore(model, keras.models.load_model(run_dir / CHECKPOINT))
        if int(model.optimizer.iterations) == 0:  # rebuilt from an export (models.experiments.recover): no state saved
            restart_optimizer(model, batches, done)
    _write_run_info(
        run_dir,
        recipe,
        model,
        data_sha256=data.sha256(),
        n_train=len(train_split),
        cleaning=cleaning,
        # By hash as well as path: a teacher's file can later be replaced (the served artifact is promoted).
        teachers=teacher_records,
    )
    trim_history(run_dir, done)
    started = time.monotonic()
    model.fit(
        batches,
        validation_data=(prepare_faces(val_split.x), one_hot(val_split.y)),
        epochs=recipe.epochs,
        initial_epoch=done,
        callbacks=_callbacks(run_dir),
        verbose=2,
    )
    log.info("trained %s epochs %d..%d in %.0f s", recipe.arch, done, recipe.epochs, time.monotonic() - started)
    return model


def augmentation_for(recipe: Recipe) -> Augmentation | None:
    """The training-time perturbations a recipe asks for; None when it trains on the faces as they are."""
    if not recipe.augment:
        return None
    return Augmentation(
        erase_probability=recipe.erasing,
        brightness=recipe.brightness,
        contrast=recipe.contrast,
        degrade=recipe.degrade,
    )


def _targets(
    recipe: Recipe, split: Split, run_dir: Path, teachers: Sequence[Path]
) -> tuple[npt.NDArray[np.float32], list[dict[str, str]], ConsistentTeaching | None]:
    """The training targets, the teachers (path and sha256) that contribute to them, and for
    consistent teaching the loaded teachers (the targets are then the label part only)."""
    targets = training_targets(split.y, split.votes, recipe.ferplus_weight)
    if recipe.teacher_weight == 0.0:
        if teachers:
            raise ValueError("this recipe has no teacher share (teacher_weight 0); --teacher would be ignored")
        return targets, [], None
    if not teachers:
        return with_teacher(targets, None, recipe.teacher_weight), [], None
    if recipe.teaching == "consistent":
        loaded = Teachers(teachers)
        return targets, loaded.records(), ConsistentTeaching(loaded, recipe.teacher_weight)
    taught = cached_teacher_probabilities(run_dir, teachers, split.x)
    return with_teacher(targets, taught.probabilities, recipe.teacher_weight), taught.teachers, None


def _batch_seed(recipe: Recipe, epochs_done: int) -> int:
    return recipe.seed if epochs_done == 0 else recipe.seed * 1000 + epochs_done


def _restore(model: keras.Model, saved: keras.Model) -> None:
    """Weights and optimizer state from a checkpoint; the schedule stays the recipe's.

    Loading the checkpoint as the model would bring back the schedule it was saved with,
    so a recipe that extends a run (another cosine cycle) would be silently ignored.
    """
    model.set_weights(saved.get_weights())
    model.optimizer.build(model.trainable_variables)
    mine, theirs = model.optimizer.variables, saved.optimizer.variables
    if [v.shape for v in mine] != [v.shape for v in theirs]:
        raise ValueError("the checkpoint's optimizer state does not fit this recipe's optimizer")
    for variable, value in zip(mine, theirs, strict=True):
        variable.assign(value)


# Batches whose gradients estimate Adam's moments for a run restored without them: at batch 64,
# about half an epoch of FER2013, and a fifth of the second moment's memory (1 / (1 - 0.999)).
MOMENT_ESTIMATE_STEPS = 200


def restart_optimizer(model: keras.Model, batches: keras.utils.PyDataset, epochs: int) -> None:
    """Put the step count where ``epochs`` finished epochs leave it, so the recipe's schedule
    continues there, and estimate Adam's moments on ``MOMENT_ESTIMATE_STEPS`` batches.

    With zero moments at a late step, Adam's bias correction no longer scales them up, and its
    first steps would be 2 to 6 times the schedule's rate (its first epoch, at batch 64). So a
    copy of the network is trained with a rate of zero (the weights stay as they are, the
    moments fill), and its moments, bias-corrected, become the optimizer's.
    """
    if not isinstance(model.optimizer, keras.optimizers.Adam | keras.optimizers.AdamW):
        raise ValueError(f"no optimizer state to restart for {type(model.optimizer).__name__}")
    optimizer = model.optimizer
    estimator = keras.optimizers.Adam(learning_rate=0.0, beta_1=optimizer.beta_1, beta_2=optimizer.beta_2)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy.compile(optimizer=estimator, loss=model.loss)
    steps = min(MOMENT_ESTIMATE_STEPS, len(batches))
    copy.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0)
    corrections = {"momentum": 1 - optimizer.beta_1**steps, "velocity": 1 - optimizer.beta_2**steps}
    # Both optimizers hold a momentum and a velocity per trainable weight, in the same order.
    mine, estimated = _moments(optimizer), _moments(estimator)
    if [(kind, v.shape) for kind, v in mine] != [(kind, v.shape) for kind, v in estimated]:
        raise ValueError("the estimated moments do not line up with the optimizer's")
    for (kind, variable), (_, estimate) in zip(mine, estimated, strict=True):
        variable.assign(estimate / corrections[kind])
    optimizer.iterations.assign(epochs * len(batches))
    log.info("optimizer restarted at step %d, moments estimated on %d batches", epochs * len(batches), steps)


def _moments(optimizer: keras.optimizers.Optimizer) -> list[tuple[str, keras.Variable]]:
    """Adam's per-weight slots as (``momentum`` or ``velocity``, variable), in the optimizer's order."""
    slots = [(variable.path.rsplit("_", 1)[-1], variable) for variable in optimizer.variables]
    return [(kind, variable) for kind, variable in slots if kind in ("momentum", "velocity")]


class SaveModel(keras.callbacks.Callback):  # type: ignore[misc]
    """The model (with its optimizer state) after each epoch, at ``path_of(epoch)``, replaced
    whole or not at all: the checkpoint for resuming, and each epoch's snapshot for weight
    averaging (``models.training.average``)."""

    def __init__(self, path_of: Callable[[int], Path]) -> None:
        super().__init__()
        self.path_of = path_of

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        path = self.path_of(epoch + 1)
        path.parent.mkdir(exist_ok=True)
        write_atomically(path, self.model.save)


class SaveBest(SaveModel):
    """The model at ``path`` after each epoch whose PublicTest accuracy beats ``best`` and every
    epoch since. Unlike Keras' ModelCheckpoint, which starts from nothing in each process, a resumed
    run passes the best of its history, so its first epoch does not replace a better one."""

    def __init__(self, path: Path, best: float) -> None:
        super().__init__(lambda epoch: path)
        self.best = best

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        score = (logs or {}).get(MONITOR)
        if score is not None and score > self.best:
            self.best = float(score)
            super().on_epoch_end(epoch, logs)


def _callbacks(run_dir: Path) -> list[keras.callbacks.Callback]:
    # The best so far counts only where its file is there (a run continued from one without it).
    best = best_logged(run_dir, MONITOR) if (run_dir / BEST).exists() else -math.inf
    return [
        SaveModel(lambda epoch: run_dir / CHECKPOINT),
        SaveModel(lambda epoch: run_dir / SNAPSHOTS / snapshot_name(epoch)),
        SaveBest(run_dir / BEST, best),
        keras.callbacks.CSVLogger(str(run_dir / HISTORY), append=True),
        SaveState(run_dir),
    ]


def _write_run_info(
    run_dir: Path,
    recipe: Recipe,
    model: keras.Model,
    *,
    data_sha256: str,
    n_train: int,
    cleaning: dict[str, int] | None,
    teachers: list[dict[str, str]],
) -> None:
    info = {
        "cleaning": cleaning,
        "teachers": teachers,
        "recipe": recipe.as_dict(),
        "backend": keras.backend.backend(),
        "parameters": int(model.count_params()),
        "multiply_adds": multiply_adds(model),
        "data_sha256": data_sha256,
        "train_images": n_train,
    }
    (run_dir / "run.json").write_text(json.dumps(info, indent=2))


def run(args: argparse.Namespace) -> None:
    if args.start_from is not None:
        continue_run(args.start_from, args.out)
    train(recipe_from_args(args), args.data, args.out, args.limit, args.ferplus, teachers=args.teachers)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", choices=sorted(all_recipes()), default="vggbn", help="the recipe to train")
    add_data_argument(parser)
    parser.add_argument("--out", type=Path, required=True, help="run folder (resumes if it holds a checkpoint)")
    parser.add_argument("--epochs", type=int, help="override the recipe's epoch count")
    parser.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    parser.add_argument("--seed", type=int, help="override the recipe's seed (another independently trained network)")
    parser.add_argument("--from", dest="start_from", type=Path, help="continue this finished run in --out")
    parser.add_argument("--ferplus-weight", type=float, help="override the recipe's FER+ share of the targets")
    parser.add_argument(
        "--teacher",
        dest="teachers",
        type=Path,
        action="append",
        default=[],
        help="a teacher network (.keras, or an exported .onnx) for a recipe with a teacher share; repeatable",
    )
    parser.add_argument("--teacher-weight", type=float, help="override the recipe's teacher share of the targets")
    parser.add_argument("--precision", choices=PRECISIONS, help="override the recipe's training precision")
    parser.add_argument("--limit", type=int, help="train on this many images only (smoke tests)")
    add_ferplus_argument(parser)
    parser.add_argument("--no-clean", action="store_true", help="train on Training as published")


def continue_run(source: Path, run_dir: Path) -> None:
    """Start ``run_dir`` from ``source``'s last epoch (checkpoint, state and history), once.

    ``train`` then resumes it under the new recipe; a ``run_dir`` that already has a
    checkpoint is left alone, so the same command resumes an interrupted continuation.
    """
    if (run_dir / CHECKPOINT).exists():
        return
    if not (source / CHECKPOINT).exists():
        raise FileNotFoundError(f"{source} has no {CHECKPOINT} to continue from")
    run_dir.mkdir(parents=True, exist_ok=True)
    # The best epoch too, if the source kept one: the continued run's best is over both. The
    # teacher cache too: it is keyed by the teachers' hashes, so other teachers still recompute.
    optional = [name for name in (BEST, TEACHER_CACHE) if (source / name).exists()]
    for name in (STATE, HISTORY, *optional, CHECKPOINT):  # the checkpoint last: its presence means "copied"
        shutil.copy2(source / name, run_dir / name)


def recipe_from_args(args: argparse.Namespace) -> Recipe:
    """The recipe named by ``--arch`` with the command line's overrides applied."""
    recipe = all_recipes()[args.arch]
    if args.epochs is not None:  # one cosine cycle over the given epochs
        recipe = dataclasses.replace(recipe, epochs=args.epochs, cycle_epochs=())
    if args.batch_size is not None:
        recipe = dataclasses.replace(recipe, batch_size=args.batch_size)
    if args.seed is not None:
        recipe = dataclasses.replace(recipe, seed=args.seed)
    if args.ferplus_weight is not None:
        recipe = dataclasses.replace(recipe, ferplus_weight=args.ferplus_weight)
    if args.teacher_weight is not None:
        recipe = dataclasses.replace(recipe, teacher_weight=args.teacher_weight)
    if args.precision is not None:
        recipe = dataclasses.replace(recipe, precision=args.precision)
    if args.no_clean:
        recipe = dataclasses.replace(recipe, clean=False)
    return recipe
