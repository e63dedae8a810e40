"""The CNN architectures, in backend-agnostic Keras 3 (no ``tf.*``).

- ``baseline``: the classic Keras FER2013 CNN, reproduced exactly (Conv32-Conv64-
  MaxPool-Dropout0.25, Conv128-MaxPool, Conv128-MaxPool-Dropout0.25, Dense1024-
  Dropout0.5, Dense7 softmax; Adam 1e-4 is set by the training recipe).
- ``vggbn``: the production net: four VGG stages of two 3x3 convolutions with
  BatchNorm (32 to 256 filters), global average pooling, dropout. About 117 M
  multiply-adds per face, within the 150 M budget.
- ``vggbn-wide``: the served network's: vggbn's stages twice as wide (64 to 512 filters) after a
  full-resolution stem that halves the face; about 128 M multiply-adds, four times the
  parameters.

Research architectures (narrow, xl, squeeze-excite, residual) are in
``models/experiments/architectures.py``.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import keras
from keras import layers

from emostream.labels import NUM_EMOTIONS
from emostream.preprocess import FACE_SIZE_PX

INPUT_SHAPE = (FACE_SIZE_PX, FACE_SIZE_PX, 1)


def with_flip_averaging(model: keras.Model) -> keras.Model:
    """The mean of the model's predictions for a face and for its mirror image.

    Built in float32 even under a mixed policy (distillation builds its teachers while a bfloat16
    run trains), so neither the faces nor the teacher's probabilities are rounded to 8 bits."""
    with dtype_policy("float32"):
        inputs = keras.Input(shape=INPUT_SHAPE)
        mirrored = keras.layers.Lambda(lambda x: keras.ops.flip(x, axis=2), name="mirror")(inputs)
        outputs = keras.layers.Average(name="flip_average")([model(inputs), model(mirrored)])
        return keras.Model(inputs, outputs, name=model.name)


def baseline() -> keras.Model:
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Conv2D(128, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(128, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(1024, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(NUM_EMOTIONS, activation="softmax", name="probs", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="baseline")


def vggbn(
    widths: tuple[int, ...] = (32, 64, 128, 256), dropout: float = 0.4, stem: int = 0, excite: int = 0
) -> keras.Model:
    """VGG stages with BatchNorm; ``stem`` filters, if any, look at the full 48x48 face once
    and halve it, so the stages can be twice as wide for the same multiply-adds. ``excite``,
    if set, is the reduction of a squeeze-and-excitation gate closing each stage."""
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = full_resolution_stem(inputs, stem) if stem else inputs
    for stage, width in enumerate(widths):
        for conv in range(2):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"s{stage}c{conv}")(x)
            x = layers.BatchNormalization(name=f"s{stage}bn{conv}")(x)
            x = layers.Activation("relu", name=f"s{stage}relu{conv}")(x)
        if excite:
            x = squeeze_excite(x, excite, name=f"s{stage}se")
        if stage < len(widths) - 1:
            x = layers.MaxPooling2D(2, name=f"s{stage}pool")(x)
    return keras.Model(inputs, pooled_emotion_head(x, dropout), name="vggbn")


def full_resolution_stem(x: keras.KerasTensor, filters: int) -> keras.KerasTensor:
    """One 3x3 convolution over the whole 48x48 face, then max pooling halves it."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(name="stembn")(x)
    x = layers.Activation("relu", name="stemrelu")(x)
    return layers.MaxPooling2D(2, name="stempool")(x)


def squeeze_excite(x: keras.KerasTensor, reduction: int, name: str) -> keras.KerasTensor:
    """x times a per-channel gate in (0, 1) computed from x averaged over the face (Hu et al.
    2018): global pooling, a ReLU bottleneck of width / ``reduction`` units, a sigmoid."""
    width = int(x.shape[-1])
    gate = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}pool")(x)
    gate = layers.Dense(max(width // reduction, 1), activation="relu", name=f"{name}squeeze")(gate)
    gate = layers.Dense(width, activation="sigmoid", name=f"{name}excite")(gate)
    return layers.Multiply(name=f"{name}scale")([x, gate])


def pooled_emotion_head(x: keras.KerasTensor, dropout: float) -> keras.KerasTensor:
    """Global average pooling, dropout, and the seven probabilities (float32 under any policy)."""
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    return layers.Dense(NUM_EMOTIONS, activation="softmax", name="probs", dtype="float32")(x)


# vggbn's stage widths doubled: the served network's, shared by its variants.
WIDE = (64, 128, 256, 512)


def vggbn_wide() -> keras.Model:
    """Twice vggbn's widths after a full-resolution stem: about 128 M multiply-adds, 4x the parameters."""
    return vggbn(widths=WIDE, stem=32)


ARCHITECTURES: dict[str, Callable[[], keras.Model]] = {
    "baseline": baseline,
    "vggbn": vggbn,
    "vggbn-wide": vggbn_wide,
}


def all_architectures() -> dict[str, Callable[[], keras.Model]]:
    """The served chain's architectures and the research ones, by name (what recipes name)."""
    from models.experiments.architectures import RESEARCH_ARCHITECTURES  # research extends training

    return ARCHITECTURES | RESEARCH_ARCHITECTURES


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds per face of the convolution and dense layers (the cost that matters)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k_h, k_w = layer.kernel_size
            c_in = layer.input.shape[-1]
            total += int(h * w * c_out * k_h * k_w * c_in)
        elif isinstance(layer, layers.Dense):
            total += int(layer.input.shape[-1] * layer.units)
    return total


def load_float32(path: Path) -> keras.Model:
    """A saved network computing in float32, whatever precision it was trained in.

    A network trained under a mixed policy is saved with it; evaluated or exported as it is,
    it would compute in bfloat16. It is rebuilt layer by layer in float32 with the same weights.
    """
    with dtype_policy("float32"):
        model = keras.models.load_model(path, compile=False)
        if all(layer.dtype_policy.name == "float32" for layer in model.layers):
            return model

        def in_float32(layer: keras.layers.Layer) -> keras.layers.Layer:
            return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

        rebuilt = keras.models.clone_model(model, clone_function=in_float32)
        rebuilt.set_weights(model.get_weights())
        return rebuilt


@contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Keras's global dtype policy set to ``name`` inside the block (it is process-wide)."""
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
