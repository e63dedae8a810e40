"""Stochastic weight averaging (Izmailov et al. 2018) of a run's last epochs.

    python -m models average --run runs/vggbn --last 10  # -> runs/vggbn/averaged.keras

Averages the weights of the per-epoch snapshots that ``models.training.train`` keeps in
``snapshots/`` (the last N epochs of the final cosine cycle), then recomputes every
BatchNorm layer's statistics over the cleaned Training images, since an average of
weights is not matched by an average of the statistics. Same network, same cost per
face: it is a way to pick the weights, not an ensemble. Export the result with
``python -m models export --run runs/vggbn --checkpoint averaged.keras``.
"""

import argparse
import json
import logging
from pathlib import Path

import keras
import numpy as np
import numpy.typing as npt

from emostream.preprocess import prepare_faces
from models.training.architectures import load_float32
from models.training.cleaning import training_split
from models.training.data import add_data_argument, add_ferplus_argument, load_fer2013
from models.training.metrics import evaluate
from models.training.runfolder import AVERAGED

log = logging.getLogger(__name__)

SNAPSHOTS = "snapshots"


def snapshot_name(epoch: int) -> str:
    """The file ``models.training.train`` writes after each epoch (1-based, zero-padded to sort)."""
    return f"epoch-{epoch:03d}.keras"


def last_snapshots(run_dir: Path, count: int) -> list[Path]:
    found = sorted((run_dir / SNAPSHOTS).glob("epoch-*.keras"))
    if len(found) < count:
        raise FileNotFoundError(f"{run_dir / SNAPSHOTS} holds {len(found)} snapshots, {count} wanted")
    return found[-count:]


def average_weights(paths: list[Path]) -> keras.Model:
    models = [load_float32(path) for path in paths]
    averaged = models[0]
    averaged.set_weights([np.mean(parts, axis=0) for parts in zip(*(m.get_weights() for m in models), strict=True)])
    return averaged


def recalibrate_batchnorm(model: keras.Model, images: npt.NDArray[np.uint8], batch_size: int = 256) -> None:
    """Exact BatchNorm statistics over the images: a running mean with momentum i/(i+1)."""
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for step, start in enumerate(range(0, len(images), batch_size)):
        for layer in norms:
            layer.momentum = step / (step + 1)
        model(prepare_faces(images[start : start + batch_size]), training=True)
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, required=True, help="training run folder with snapshots/")
    parser.add_argument("--last", type=int, default=10, help="average this many final epochs")
    parser.add_argument(
        "--limit", type=int, help="recalibrate and score on this many images only (smoke tests, as train's --limit)"
    )
    add_data_argument(parser)
    add_ferplus_argument(parser)


def run(args: argparse.Namespace) -> None:
    data = load_fer2013(args.data)
    recipe = json.loads((args.run / "run.json").read_text())["recipe"]
    train, val = training_split(data, recipe["clean"], args.ferplus), data.val
    if args.limit is not None:  # the same subsets train --limit takes
        train, val = train.subset(args.limit, recipe["seed"]), val.subset(args.limit, recipe["seed"])
    paths = last_snapshots(args.run, args.last)
    model = average_weights(paths)
    recalibrate_batchnorm(model, train.x)
    model.save(args.run / AVERAGED)
    result = evaluate(val.y, model.predict(prepare_faces(val.x), verbose=0))
    print(json.dumps({"averaged": [p.name for p in paths], "publictest_accuracy": result.accuracy}))
