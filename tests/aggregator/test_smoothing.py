"""Per-person smoothing over time and the uncertain label."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.smoothing import UNCERTAIN, CausalSmoother, Method, SmoothingConfig, filter_causal, labels, smooth
from emostream.labels import EMOTIONS

HAPPY, NEUTRAL = EMOTIONS.index("happy"), EMOTIONS.index("neutral")


def confident(index: int, share: float = 0.7) -> list[float]:
    row = [(1 - share) / 6] * 7
    row[index] = share
    return row


def sequence() -> tuple[np.ndarray, list[int]]:
    """3 s neutral then 3 s happy at 10 fps, with a one-frame happy flicker at 1 s."""
    probs = [confident(NEUTRAL) for _ in range(30)] + [confident(HAPPY) for _ in range(30)]
    probs[10] = confident(HAPPY)
    return np.array(probs), list(range(0, 6000, 100))


@pytest.mark.parametrize("method", ["hmm", "ema"])
def test_smoothing_removes_a_one_frame_flicker_and_follows_a_real_change(method: Method) -> None:
    probs, t_ms = sequence()
    named = labels(smooth(probs, t_ms, SmoothingConfig(method=method)), 0.5)
    assert named[10] != "happy"  # the flicker is gone
    assert named[:30].count("happy") == 0
    assert named[-20:] == ["happy"] * 20  # the change is followed within a second
    assert all(label in ("neutral", UNCERTAIN) for label in named[:30])


def test_without_smoothing_the_flicker_stays() -> None:
    probs, t_ms = sequence()
    assert labels(smooth(probs, t_ms, SmoothingConfig(method="none")), 0.5)[10] == "happy"


def test_the_hmm_switches_sooner_than_the_ema_after_a_change() -> None:
    probs, t_ms = sequence()
    first_happy = {}
    for method in ("hmm", "ema"):
        named = labels(smooth(probs, t_ms, SmoothingConfig(method=method)), 0.5)
        first_happy[method] = next(n for n in range(30, 60) if named[n] == "happy")
    assert first_happy["hmm"] <= first_happy["ema"]


def test_a_top_probability_below_the_threshold_is_uncertain() -> None:
    assert labels([confident(HAPPY, 0.55)], uncertain_below=0.6) == [UNCERTAIN]
    assert labels([confident(HAPPY, 0.65)], uncertain_below=0.6) == ["happy"]


def test_a_person_seen_once_keeps_the_calibrated_probabilities_and_later_frames_are_tempered() -> None:
    """One frame is one image, which the threshold was chosen on; a second frame mostly repeats it."""
    seen_once = [confident(HAPPY, 0.8)]
    assert np.allclose(smooth(seen_once, [0]), seen_once)
    assert np.allclose(CausalSmoother().update(0, seen_once[0]), seen_once[0])
    assert labels(smooth(seen_once, [0]), uncertain_below=0.6) == ["happy"]
    twice = smooth(seen_once * 2, [0, 100])
    full_weight = SmoothingConfig(evidence_weight=1.0)
    assert 0.8 < twice[1, HAPPY] < smooth(seen_once * 2, [0, 100], full_weight)[1, HAPPY]


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.lists(st.floats(0.01, 1.0), min_size=7, max_size=7), min_size=1, max_size=30),
    gaps=st.lists(st.integers(0, 2000), min_size=30, max_size=30),
    method=st.sampled_from(["hmm", "ema"]),
)
def test_smoothed_rows_are_probabilities_and_the_online_filter_matches_the_batch_one(
    rows: list[list[float]], gaps: list[int], method: str
) -> None:
    probs = np.array(rows) / np.array(rows).sum(axis=1, keepdims=True)
    t_ms = list(np.cumsum(gaps[: len(rows)]))
    config = SmoothingConfig(method=method)  # type: ignore[arg-type]
    for smoothed in (smooth(probs, t_ms, config), filter_causal(probs, t_ms, config)):
        assert smoothed.shape == probs.shape
        assert np.allclose(smoothed.sum(axis=1), 1.0)
    online = CausalSmoother(config)
    stepwise = np.array([online.update(int(t), row) for t, row in zip(t_ms, probs, strict=True)])
    assert np.allclose(stepwise, filter_causal(probs, t_ms, config))
