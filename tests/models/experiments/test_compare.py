import math

import numpy as np
import pytest

from models.experiments.compare import mcnemar_exact_p, paired_comparison


def test_mcnemar_p_is_the_two_sided_binomial_tail() -> None:
    assert mcnemar_exact_p(0, 0) == 1.0
    assert mcnemar_exact_p(10, 0) == pytest.approx(2 / 2**10)
    assert mcnemar_exact_p(1, 5) == pytest.approx(2 * (1 + 6) / 2**6)
    assert mcnemar_exact_p(5, 1) == mcnemar_exact_p(1, 5)
    assert mcnemar_exact_p(7, 7) == 1.0


def test_mcnemar_p_matches_the_normal_approximation_for_many_pairs() -> None:
    only_first, only_second = 255, 214
    z = (only_first - only_second) / math.sqrt(only_first + only_second)
    normal_p = math.erfc(abs(z) / math.sqrt(2))
    assert mcnemar_exact_p(only_first, only_second) == pytest.approx(normal_p, abs=0.01)


def one_hot(classes: list[int]) -> np.ndarray:
    return np.eye(7)[classes]


def test_paired_comparison_counts_the_images_only_one_model_gets_right() -> None:
    labels = np.array([0, 1, 2, 3, 4, 5])
    first = one_hot([0, 1, 2, 3, 0, 0])  # right on 4
    second = one_hot([0, 0, 0, 3, 4, 0])  # right on 3
    result = paired_comparison(labels, first, second)
    assert result["only_first_right"] == 2
    assert result["only_second_right"] == 1
    assert result["accuracy_first"] == pytest.approx(4 / 6, abs=1e-4)
    assert not result["first_significantly_better"]


def test_a_clearly_better_candidate_is_significant() -> None:
    labels = np.zeros(40, dtype=np.int64)
    first = one_hot([0] * 40)
    second = one_hot([0] * 20 + [1] * 20)
    result = paired_comparison(labels, first, second)
    assert result["mcnemar_p"] < 0.001
    assert result["first_significantly_better"]
    assert not paired_comparison(labels, second, first)["first_significantly_better"]
