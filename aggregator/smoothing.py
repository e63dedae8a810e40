"""Smoothing one person's emotion probabilities over time, and the ``uncertain`` label.

Two smoothers, both over time stamps rather than frame counts (a track may miss frames):

- ``hmm``: a "sticky" hidden Markov model over the 7 emotions. The hidden emotion switches at
  ``switch_per_s`` on average; each frame's calibrated probabilities are its evidence, tempered
  by ``evidence_weight`` because consecutive frames of one face are far from independent. A
  track's first frame has no frame before it to repeat, so it counts in full: a person seen
  once (a still image, a camera's newcomer) gets the calibrated single-image probabilities that
  the ``uncertain`` threshold was chosen on.
  ``smooth`` returns the forward-backward posteriors (the whole track is known: videos);
  ``filter_causal`` the forward pass alone (cameras cannot wait for the future).
- ``ema``: an exponential moving average with time constant ``ema_tau_s`` (causal).

``bench/smoothing.py`` compares them on a clip whose expression changes at known times;
the choice and its figures are in docs/people.md.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from emostream import keys
from emostream.labels import EMOTIONS, NUM_EMOTIONS

UNCERTAIN = "uncertain"
Method = Literal["hmm", "ema", "none"]
Probs = npt.NDArray[np.float64]
_TINY = 1e-12


@dataclass(frozen=True)
class SmoothingConfig:
    method: Method = "hmm"
    switch_per_s: float = keys.SMOOTH_SWITCH_PER_S
    evidence_weight: float = keys.SMOOTH_EVIDENCE_WEIGHT
    ema_tau_s: float = keys.SMOOTH_EMA_TAU_S
    uncertain_below: float = keys.UNCERTAIN_BELOW


DEFAULT_SMOOTHING = SmoothingConfig()


def smooth(probs: npt.ArrayLike, t_ms: Sequence[int], config: SmoothingConfig = DEFAULT_SMOOTHING) -> Probs:
    """Smoothed probabilities (N, 7) of one track whose frames are at ``t_ms`` (increasing)."""
    return _smoothed(_as_probs(probs), t_ms, config, use_future=True)


def filter_causal(probs: npt.ArrayLike, t_ms: Sequence[int], config: SmoothingConfig = DEFAULT_SMOOTHING) -> Probs:
    """Like ``smooth``, but each row only uses frames up to its own (for live cameras)."""
    return _smoothed(_as_probs(probs), t_ms, config, use_future=False)


def _smoothed(p: Probs, t_ms: Sequence[int], config: SmoothingConfig, use_future: bool) -> Probs:
    if config.method == "none" or len(p) == 0:
        return p
    if config.method == "ema":
        return ema(p, t_ms, config.ema_tau_s)
    forward, scales = _forward(p, t_ms, config)
    return _backward(forward, p, t_ms, config, scales) if use_future else forward


class CausalSmoother:
    """``filter_causal`` one frame at a time, for a live track whose frames arrive in order."""

    def __init__(self, config: SmoothingConfig = DEFAULT_SMOOTHING) -> None:
        self.config = config
        self._state: Probs | None = None
        self._t_ms = 0

    def update(self, t_ms: int, probs: Sequence[float]) -> Probs:
        row = _as_probs(probs)[0]
        gap_s = max(0.0, (t_ms - self._t_ms) / 1000.0)
        self._t_ms = t_ms
        if self.config.method == "none":
            self._state = row
        elif self._state is None:
            self._state = _normalised(_evidence(row, 1.0))  # the first frame counts in full, as in ``_forward``
        elif self.config.method == "ema":
            alpha = 1.0 - np.exp(-gap_s / self.config.ema_tau_s)
            self._state = (1 - alpha) * self._state + alpha * row
        else:
            prior = self._state @ _transition(gap_s, self.config.switch_per_s)
            self._state = _normalised(prior * _evidence(row, self.config.evidence_weight))
        return self._state


def labels(smoothed: npt.ArrayLike, uncertain_below: float) -> list[str]:
    """The top emotion of each row, or ``uncertain`` where its probability is below the threshold."""
    p = _as_probs(smoothed)
    top = p.argmax(axis=1) if len(p) else np.zeros(0, dtype=int)
    return [EMOTIONS[i] if p[n, i] >= uncertain_below else UNCERTAIN for n, i in enumerate(top)]


def ema(probs: Probs, t_ms: Sequence[int], tau_s: float) -> Probs:
    out = np.empty_like(probs)
    out[0] = probs[0]
    for n in range(1, len(probs)):
        alpha = 1.0 - np.exp(-_gap_s(t_ms, n) / tau_s)
        out[n] = (1 - alpha) * out[n - 1] + alpha * probs[n]
    return out


def _transition(gap_s: float, switch_per_s: float) -> Probs:
    """P(emotion at t+gap | emotion at t): stay with exp(-rate*gap), else any other emotion alike."""
    stay = float(np.exp(-switch_per_s * gap_s))
    move = (1.0 - stay) / (NUM_EMOTIONS - 1)
    matrix = np.full((NUM_EMOTIONS, NUM_EMOTIONS), move)
    np.fill_diagonal(matrix, stay)
    return matrix


def _evidence(probs: Probs, weight: float) -> Probs:
    return np.power(np.maximum(probs, _TINY), weight)


def _forward(probs: Probs, t_ms: Sequence[int], config: SmoothingConfig) -> tuple[Probs, Probs]:
    evidence = _evidence(probs, config.evidence_weight)
    evidence[0] = _evidence(probs[0], 1.0)  # the first frame repeats nothing
    alpha = np.empty_like(probs)
    scales = np.empty(len(probs))
    belief = np.full(NUM_EMOTIONS, 1.0 / NUM_EMOTIONS)
    for n in range(len(probs)):
        if n:
            belief = alpha[n - 1] @ _transition(_gap_s(t_ms, n), config.switch_per_s)
        unnormalised = belief * evidence[n]
        scales[n] = unnormalised.sum()
        alpha[n] = unnormalised / scales[n]
    return alpha, scales


def _backward(alpha: Probs, probs: Probs, t_ms: Sequence[int], config: SmoothingConfig, scales: Probs) -> Probs:
    evidence = _evidence(probs, config.evidence_weight)
    beta = np.ones(NUM_EMOTIONS)
    posterior = np.empty_like(alpha)
    posterior[-1] = alpha[-1]
    for n in range(len(probs) - 2, -1, -1):
        beta = _transition(_gap_s(t_ms, n + 1), config.switch_per_s) @ (evidence[n + 1] * beta) / scales[n + 1]
        joint = alpha[n] * beta
        posterior[n] = joint / joint.sum()
    return posterior


def _normalised(row: Probs) -> Probs:
    return np.asarray(row / row.sum(), dtype=np.float64)


def _gap_s(t_ms: Sequence[int], n: int) -> float:
    return max(0.0, (t_ms[n] - t_ms[n - 1]) / 1000.0)


def _as_probs(probs: npt.ArrayLike) -> Probs:
    return np.asarray(probs, dtype=np.float64).reshape(-1, NUM_EMOTIONS)
