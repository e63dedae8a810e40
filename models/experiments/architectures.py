"""Research architectures, in backend-agnostic Keras 3: tried, none served.

- ``vggbn-narrow``: vggbn-wide at three quarters of its widths (48 to 384 filters, stem 24):
  about 72 M multiply-adds, so that with test-time flip averaging (two passes) a face costs
  about 144 M, inside the budget.
- ``vggbn-quarter``: vggbn-wide at half its widths (32 to 256 filters, stem 12): 31.4 M
  multiply-adds, a quarter of vggbn-wide's, for CPUs without VNNI. Untrained weights serve at the
  speed trained ones do, so its int8 speed was measured before training (``bench/students.py``):
  3.6 times the served network's faces per second on AVX2 code paths, 2.7 times with VNNI.
- ``vggbn-xl``: vggbn-wide's stages at the full 48x48 resolution (no stem): about 470 M
  multiply-adds, over the serving budget, so it is only ever a teacher for distillation.
- ``vggbn-wide-se``: vggbn-wide with a squeeze-and-excitation gate (Hu et al. 2018) after each
  stage: the stage's channels are averaged over the face, passed through a bottleneck of a
  sixteenth of the width, and each channel is rescaled by a sigmoid of the result, so a stage
  can weight its features by what the whole face shows. About 44 K multiply-adds more.
- ``resbn``: residual stages (two basic blocks of two 3x3 convolutions each, identity
  shortcuts, 1x1 projections where the width grows) at 44 to 352 filters after a stem of 24:
  17 convolution layers deep instead of 9, about 144 M multiply-adds.
"""

from collections.abc import Callable

import keras
from keras import layers

from models.training.architectures import INPUT_SHAPE, WIDE, full_resolution_stem, pooled_emotion_head, vggbn


def vggbn_wide_se() -> keras.Model:
    """vggbn-wide with a squeeze-and-excitation gate (reduction 16) closing each stage."""
    return vggbn(widths=WIDE, stem=32, excite=16)


def vggbn_narrow() -> keras.Model:
    """vggbn-wide at three quarters of its widths: about 72 M multiply-adds, 144 M with its mirror."""
    return vggbn(widths=(48, 96, 192, 384), stem=24)


def vggbn_quarter() -> keras.Model:
    """vggbn-wide at half its widths, stem 12: 31.4 M multiply-adds, a quarter of vggbn-wide's 128.1 M."""
    return vggbn(widths=(32, 64, 128, 256), stem=12)


def vggbn_xl() -> keras.Model:
    """vggbn-wide's widths without the stem, so every stage sees four times the positions: a teacher."""
    return vggbn(widths=WIDE)


def resbn(
    widths: tuple[int, ...] = (44, 88, 176, 352), blocks: int = 2, stem: int = 24, dropout: float = 0.4
) -> keras.Model:
    """Residual stages of ``blocks`` basic blocks each, after vggbn's stem; max pooling between stages."""
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = full_resolution_stem(inputs, stem)
    for stage, width in enumerate(widths):
        for block in range(blocks):
            x = basic_block(x, width, name=f"s{stage}b{block}")
        if stage < len(widths) - 1:
            x = layers.MaxPooling2D(2, name=f"s{stage}pool")(x)
    return keras.Model(inputs, pooled_emotion_head(x, dropout), name="resbn")


def basic_block(x: keras.KerasTensor, width: int, name: str) -> keras.KerasTensor:
    """relu(x + bn(conv(relu(bn(conv(x)))))); a 1x1 projection matches the shortcut's width.
    The last BatchNorm starts at zero, so each block starts as the identity (He et al. 2019's
    "zero-init residual"), which eases training the deeper stack."""
    shortcut = x
    if x.shape[-1] != width:
        shortcut = layers.Conv2D(width, 1, use_bias=False, name=f"{name}proj")(x)
        shortcut = layers.BatchNormalization(name=f"{name}projbn")(shortcut)
    y = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}c0")(x)
    y = layers.BatchNormalization(name=f"{name}bn0")(y)
    y = layers.Activation("relu", name=f"{name}relu0")(y)
    y = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}c1")(y)
    y = layers.BatchNormalization(gamma_initializer="zeros", name=f"{name}bn1")(y)
    x = layers.Add(name=f"{name}add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}relu")(x)


RESEARCH_ARCHITECTURES: dict[str, Callable[[], keras.Model]] = {
    "vggbn-wide-se": vggbn_wide_se,
    "vggbn-narrow": vggbn_narrow,
    "vggbn-quarter": vggbn_quarter,
    "vggbn-xl": vggbn_xl,
    "resbn": resbn,
}


# Networks over the serving budget, trained only to teach students (models/training/distill.py).
TEACHER_ONLY = frozenset({"vggbn-xl"})
