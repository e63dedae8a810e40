"""A trainable run folder rebuilt from an exported network, for when its training run is gone.

    python -m models recover models/artifacts/emotion.onnx --recipe vggbn-wide-kd-jitter-cycle3 \
        --out runs/served
    python -m models train --arch vggbn-wide-kd-jitter-cycle4 --from runs/served --out runs/cycle4 ...

``models.training.export`` folds each BatchNorm into the convolution before it, so the ONNX file holds
one kernel and one bias per convolution. The recipe's network is rebuilt around them: each
convolution takes the folded kernel, and its BatchNorm is given the statistics of that
kernel's output over the cleaned Training faces (through the rebuilt network itself) with a
scale and shift that undo them, so the rebuilt network predicts what the file predicts (to
float32 rounding) and trains like a BatchNorm network again. The run folder records the
recipe's epochs as done; the optimizer's state was not exported, so the checkpoint carries
none, and ``models.training.train`` estimates Adam's moments again before it continues (see there).
"""

import argparse
import json
from pathlib import Path

import keras
import numpy as np
import numpy.typing as npt
import onnx
from onnx import numpy_helper

from emostream.preprocess import prepare_faces
from models.training.architectures import all_architectures
from models.training.cleaning import training_split
from models.training.data import add_data_argument, add_ferplus_argument, load_fer2013
from models.training.metrics import evaluate
from models.training.recipes import Recipe, all_recipes
from models.training.runfolder import HISTORY, write_epochs_done
from models.training.train import CHECKPOINT, build_model


def exported_layers(
    path: Path,
) -> tuple[list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]], list[npt.NDArray[np.float32]]]:
    """Each Conv node's (kernel, bias) in graph order, and the final MatMul's weights and Add's bias."""
    graph = onnx.load(str(path)).graph
    constants = {init.name: numpy_helper.to_array(init).astype(np.float32) for init in graph.initializer}
    convs, dense = [], []
    for node in graph.node:
        if node.op_type == "Conv":
            if len(node.input) != 3:
                raise ValueError(f"{path}: a convolution without a folded bias; not an exported BatchNorm network")
            convs.append((constants[node.input[1]], constants[node.input[2]]))
        elif node.op_type in ("MatMul", "Add") and any(name in constants for name in node.input):
            dense.append(next(constants[name] for name in node.input if name in constants))
    if len(dense) != 2:
        raise ValueError(f"{path}: expected one dense layer (MatMul and Add), found {len(dense)} parts")
    return convs, dense


def conv_norm_pairs(model: keras.Model) -> list[tuple[keras.layers.Conv2D, keras.layers.BatchNormalization]]:
    """Every convolution with the BatchNorm right after it (the only shape this rebuilds)."""
    pairs = []
    for layer, following in zip(model.layers, model.layers[1:], strict=False):
        if isinstance(layer, keras.layers.Conv2D):
            if not isinstance(following, keras.layers.BatchNormalization) or layer.use_bias:
                raise ValueError(f"{layer.name} is not a bias-free convolution followed by BatchNorm")
            pairs.append((layer, following))
    return pairs


def rebuild(path: Path, model: keras.Model, images: npt.NDArray[np.uint8], batch_size: int = 256) -> keras.Model:
    """``model`` (the exported network's architecture, freshly built) given the exported file's
    weights, with its BatchNorms fitted to ``images``."""
    convs, (weights, bias) = exported_layers(path)
    kernels = [kernel.transpose(2, 3, 1, 0) for kernel, _ in convs]  # ONNX OIHW -> Keras HWIO
    pairs = conv_norm_pairs(model)
    if [conv.kernel.shape for conv, _ in pairs] != [kernel.shape for kernel in kernels]:
        raise ValueError(f"{path}'s convolutions do not match {model.name}'s")
    for (conv, norm), kernel, (_, folded_bias) in zip(pairs, kernels, convs, strict=True):
        conv.set_weights([kernel])
        # Identity BatchNorm plus the folded bias: the exported network exactly, in inference.
        ones = np.ones_like(folded_bias)
        norm.set_weights([ones, folded_bias, np.zeros_like(folded_bias), ones - norm.epsilon])
    model.get_layer("probs").set_weights([weights, bias])
    means, variances = _conv_output_statistics(model, [conv for conv, _ in pairs], images, batch_size)
    for (_, norm), mean, variance in zip(pairs, means, variances, strict=True):
        folded_bias = norm.get_weights()[1]
        scale = np.sqrt(variance + norm.epsilon)
        # scale * (u - mean) / sqrt(variance + eps) + mean + bias == u + bias: unchanged in inference,
        # and in training the batch statistics stand in for the same mean and variance.
        norm.set_weights([scale, mean + folded_bias, mean, variance])
    return model


def _conv_output_statistics(
    model: keras.Model, convs: list[keras.layers.Conv2D], images: npt.NDArray[np.uint8], batch_size: int
) -> tuple[list[npt.NDArray[np.float32]], list[npt.NDArray[np.float32]]]:
    probe = keras.Model(model.input, [conv.output for conv in convs])
    sums = [np.zeros(conv.filters) for conv in convs]
    squares = [np.zeros(conv.filters) for conv in convs]
    counts = [0] * len(convs)
    for start in range(0, len(images), batch_size):
        outputs = probe.predict(prepare_faces(images[start : start + batch_size]), verbose=0)
        for index, output in enumerate(outputs):
            values = output.reshape(-1, output.shape[-1]).astype(np.float64)
            sums[index] += values.sum(axis=0)
            squares[index] += (values * values).sum(axis=0)
            counts[index] += len(values)
    means = [total / count for total, count in zip(sums, counts, strict=True)]
    variances = [
        np.maximum(square / count - mean * mean, 0.0)
        for square, count, mean in zip(squares, counts, means, strict=True)
    ]
    return [m.astype(np.float32) for m in means], [v.astype(np.float32) for v in variances]


def write_run(model: keras.Model, recipe: Recipe, out: Path, source: Path) -> None:
    """A run folder that finished ``recipe``, holding ``model`` with an unstepped optimizer."""
    trainable = build_model(recipe, steps_per_epoch=1)
    trainable.set_weights(model.get_weights())
    trainable.optimizer.build(trainable.trainable_variables)  # zero moments, zero iterations
    out.mkdir(parents=True, exist_ok=True)
    trainable.save(out / CHECKPOINT)
    (out / HISTORY).write_text("")  # no epochs logged: training drops it and its logger writes the header
    (out / "recovered.json").write_text(json.dumps({"from": str(source), "recipe": recipe.as_dict()}, indent=2))
    write_epochs_done(out, recipe.epochs)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", type=Path, help="an fp32 ONNX file written by models.training.export (not the int8 one)"
    )
    parser.add_argument("--recipe", required=True, choices=sorted(all_recipes()), help="the recipe that trained it")
    parser.add_argument("--out", type=Path, required=True, help="the run folder to write")
    add_data_argument(parser)
    add_ferplus_argument(parser)


def run(args: argparse.Namespace) -> None:
    recipe = all_recipes()[args.recipe]
    data = load_fer2013(args.data)
    train = training_split(data, recipe.clean, args.ferplus)
    model = rebuild(args.model, all_architectures()[recipe.arch](), train.x)
    write_run(model, recipe, args.out, args.model)
    result = evaluate(data.val.y, model.predict(prepare_faces(data.val.x), verbose=0))
    print(json.dumps({"run": str(args.out), "epochs_done": recipe.epochs, "publictest_accuracy": result.accuracy}))
