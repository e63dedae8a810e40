"""Temperature scaling (Guo et al. 2017, "On calibration of modern neural networks").

One number T divides the network's logits before the softmax: T > 1 softens
over-confident probabilities, and the predicted class never changes, so accuracy
and the confusion matrix stay as they are. The artifacts end in a float softmax,
so T is applied to their probabilities: softmax(log p / T) equals softmax(z / T)
for the logits z. T minimises the negative log-likelihood, which is convex in 1/T,
so a golden-section search over 1/T finds the global minimum.
"""

import math

import numpy as np
import numpy.typing as npt

# Softmax outputs in float32 can underflow to 0; their logarithm is clipped here.
_TINY = 1e-30
_INVERSE_RANGE = (0.05, 20.0)  # temperatures 0.05 to 20: far wider than any network needs
_GOLDEN = (math.sqrt(5) - 1) / 2


def apply_temperature(probs: npt.ArrayLike, temperature: float) -> npt.NDArray[np.float32]:
    """Probabilities (N, C) as the network would give them with its logits divided by ``temperature``."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if temperature == 1.0:
        return np.asarray(probs, dtype=np.float32)
    p = np.asarray(probs, dtype=np.float64)
    return _softmax(np.log(np.maximum(p, _TINY)) / temperature).astype(np.float32)


def negative_log_likelihood(labels: npt.ArrayLike, probs: npt.ArrayLike) -> float:
    """Mean -log p(true class)."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    return float(-np.mean(np.log(np.maximum(p[np.arange(len(y)), y], _TINY))))


def fit_temperature(labels: npt.ArrayLike, probs: npt.ArrayLike, tolerance: float = 1e-4) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels``."""
    y = np.asarray(labels, dtype=np.int64)
    if len(y) == 0:
        raise ValueError("fitting a temperature needs at least one labelled prediction")
    log_p = np.log(np.maximum(np.asarray(probs, dtype=np.float64), _TINY))

    def nll(inverse: float) -> float:
        return negative_log_likelihood(y, _softmax(log_p * inverse))

    low, high = _INVERSE_RANGE
    a, b = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
    nll_a, nll_b = nll(a), nll(b)
    while high - low > tolerance:
        if nll_a < nll_b:  # the minimum lies in [low, b]
            high, b, nll_b = b, a, nll_a
            a = high - _GOLDEN * (high - low)
            nll_a = nll(a)
        else:  # the minimum lies in [a, high]
            low, a, nll_a = a, b, nll_b
            b = low + _GOLDEN * (high - low)
            nll_b = nll(b)
    return 1.0 / ((low + high) / 2)


def _softmax(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), dtype=np.float64)
