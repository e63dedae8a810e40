"""Report plots (matplotlib, headless). Each function writes one PNG."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from emostream.labels import EMOTIONS, NUM_EMOTIONS
from models.training.metrics import ECE_BINS, Evaluation, SelectivePoint

EXAMPLES_PER_ROW = 6


def confusion(matrix: npt.NDArray[np.int64], path: Path, normalise: bool) -> None:
    values = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1) if normalise else matrix
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(values, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set(xticks=range(NUM_EMOTIONS), yticks=range(NUM_EMOTIONS), xlabel="predicted", ylabel="true")
    ax.set_xticklabels(EMOTIONS, rotation=45, ha="right")
    ax.set_yticklabels(EMOTIONS)
    for (i, j), value in np.ndenumerate(values):
        text = f"{value:.2f}" if normalise else str(int(value))
        ax.text(
            j, i, text, ha="center", va="center", fontsize=8, color="white" if value > values.max() / 2 else "black"
        )
    ax.set_title("PublicTest confusion matrix" + (" (rows normalised)" if normalise else " (counts)"))
    _save(fig, path)


def class_distribution(splits: Mapping[str, npt.NDArray[np.uint8]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(splits)
    for n, (name, labels) in enumerate(splits.items()):
        shares = np.bincount(labels, minlength=NUM_EMOTIONS) / len(labels)
        ax.bar(np.arange(NUM_EMOTIONS) + n * width, shares, width, label=f"{name} (N={len(labels)})")
    ax.set_xticks(np.arange(NUM_EMOTIONS) + width / 2, EMOTIONS)
    ax.set_ylabel("share of images")
    ax.set_title("FER2013 class distribution")
    ax.legend()
    _save(fig, path)


def training_curves(history: list[dict[str, str]], path: Path) -> None:
    epochs = [int(row["epoch"]) + 1 for row in history]
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(10, 4))
    for key, axis in (("accuracy", acc), ("loss", loss)):
        axis.plot(epochs, [float(r[key]) for r in history], label=f"train {key}")
        axis.plot(epochs, [float(r[f"val_{key}"]) for r in history], label=f"PublicTest {key}")
        axis.set_xlabel("epoch")
        axis.legend()
    acc.set_title("accuracy (train: augmented, label-smoothed)")
    loss.set_title("loss")
    _save(fig, path)


def best_and_worst(
    x: npt.NDArray[np.uint8], y: npt.NDArray[np.uint8], probs: npt.NDArray[np.float32], result: Evaluation, path: Path
) -> None:
    """The best and worst recognised classes (by F1): confident hits and confident misses."""
    ranked = sorted(result.per_class, key=lambda name: result.per_class[name].f1)
    rows = [(ranked[-1], True), (ranked[-1], False), (ranked[0], True), (ranked[0], False)]
    predicted = probs.argmax(axis=1)
    fig, axes = plt.subplots(len(rows), EXAMPLES_PER_ROW, figsize=(EXAMPLES_PER_ROW * 1.6, len(rows) * 1.9))
    for r, (name, correct) in enumerate(rows):
        label = EMOTIONS.index(name)
        chosen = np.flatnonzero((y == label) & ((predicted == label) == correct))
        chosen = chosen[np.argsort(-probs[chosen].max(axis=1))][:EXAMPLES_PER_ROW]
        for c in range(EXAMPLES_PER_ROW):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(chosen):
                ax.imshow(x[chosen[c]], cmap="gray")
                ax.set_title(f"-> {EMOTIONS[predicted[chosen[c]]]}", fontsize=8)
        axes[r, 0].text(
            -60,
            24,
            f"{name}\n{'right' if correct else 'wrong'}\nF1 {result.per_class[name].f1:.2f}",
            fontsize=8,
            va="center",
        )
    fig.suptitle("Best (top) and worst (bottom) recognised classes: confident hits and misses")
    _save(fig, path)


def activation_maps(keras_model: Path, faces: npt.NDArray[np.uint8], path: Path, channels: int = 6) -> None:
    """The first channels of each convolution stage's output for a few faces."""
    import keras

    from emostream.preprocess import prepare_faces
    from models.training.architectures import load_float32

    model = load_float32(keras_model)
    convs = last_conv_per_resolution([layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)])
    probe = keras.Model(model.inputs, [layer.output for layer in convs])
    outputs = probe(prepare_faces(faces), training=False)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    fig, axes = plt.subplots(len(faces), 1 + len(convs) * 2, figsize=((1 + len(convs) * 2) * 1.2, len(faces) * 1.3))
    for f, face in enumerate(faces):
        axes[f, 0].imshow(face, cmap="gray")
        for s, output in enumerate(outputs):
            maps = np.asarray(output[f])
            for k in range(2):
                ax = axes[f, 1 + s * 2 + k]
                ax.imshow(maps[..., k * max(1, channels // 2)], cmap="viridis")
                if f == 0:
                    ax.set_title(convs[s].name, fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle("Activation maps of intermediate convolutions")
    _save(fig, path)


def reliability(
    labels: npt.NDArray[np.int64], curves: Mapping[str, npt.NDArray[np.float64]], eces: Mapping[str, float], path: Path
) -> None:
    """Reliability diagram: accuracy against confidence per bin, one line per set of probabilities."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    for name, probs in curves.items():
        confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
        bins = np.minimum((confidence * ECE_BINS).astype(np.int64), ECE_BINS - 1)
        used = [b for b in range(ECE_BINS) if (bins == b).sum() >= 10]  # bins of under 10 faces are noise
        ax.plot(
            [confidence[bins == b].mean() for b in used], [correct[bins == b].mean() for b in used],
            marker="o", label=f"{name} (ECE {eces[name]:.3f})",
        )  # fmt: skip
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability on PublicTest")
    ax.legend(loc="upper left")
    _save(fig, path)


def selective(points: list[SelectivePoint], chosen: SelectivePoint, path: Path) -> None:
    """Coverage and accuracy-when-confident against the uncertain threshold, with the chosen one marked."""
    fig, ax = plt.subplots(figsize=(6, 4))
    thresholds = [p.threshold for p in points]
    ax.plot(thresholds, [p.coverage for p in points], marker=".", label="coverage (faces named)")
    ax.plot(thresholds, [p.accuracy_confident for p in points], marker=".", label="accuracy when named")
    ax.plot(thresholds, [p.accuracy_uncertain for p in points], marker=".", label="accuracy of the uncertain")
    ax.axvline(chosen.threshold, color="grey", linestyle="--", label=f"chosen: {chosen.threshold:.2f}")
    ax.set_xlabel("uncertain below (top probability)")
    ax.set_ylim(0, 1)
    ax.set_title("The uncertain threshold on PublicTest")
    ax.legend(loc="lower left", fontsize="small")
    _save(fig, path)


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def last_conv_per_resolution(convs: list[Any]) -> list[Any]:
    """Each resolution's last convolution (a stem, then each stage's output), in network order."""

    def size(layer: Any) -> tuple[int, ...]:
        return tuple(layer.output.shape[1:3])

    return [
        layer
        for layer, after in zip(convs, [*convs[1:], None], strict=True)
        if after is None or size(after) != size(layer)
    ]
