import numpy as np
import pytest

from models.training.metrics import evaluate


def predictions(n: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, n)
    logits = rng.normal(size=(n, 7))
    logits[np.arange(n), labels] += 1.5  # a classifier that is right about 60 % of the time
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probs


def test_metrics_do_not_change_when_the_input_order_is_shuffled() -> None:
    labels, probs = predictions()
    order = np.random.default_rng(1).permutation(len(labels))
    assert evaluate(labels[order], probs[order]).as_dict() == evaluate(labels, probs).as_dict()


def test_scoring_shuffled_predictions_against_unshuffled_labels_collapses_to_chance() -> None:
    """The student report's bug, reproduced: its 17 % was this, not the model."""
    labels, probs = predictions(5000)
    honest = evaluate(labels, probs).accuracy
    order = np.random.default_rng(2).permutation(len(labels))
    broken = evaluate(labels, probs[order]).accuracy
    assert honest > 0.5
    assert broken == pytest.approx(1 / 7, abs=0.03)


def test_known_confusion_gives_known_scores() -> None:
    labels = np.array([0, 0, 1, 1, 3, 3, 3, 6])
    predicted = np.array([0, 1, 1, 1, 3, 3, 6, 6])
    result = evaluate(labels, np.eye(7)[predicted])
    assert result.accuracy == pytest.approx(6 / 8)
    assert result.confusion[0].tolist() == [1, 1, 0, 0, 0, 0, 0]
    assert result.per_class["disgust"].precision == pytest.approx(2 / 3)
    assert result.per_class["happy"].recall == pytest.approx(2 / 3)
    assert result.per_class["fear"].support == 0
    # macro-F1 averages over all 7 classes, absent ones scoring 0
    f1s = [result.per_class[name].f1 for name in result.per_class]
    assert result.macro_f1 == pytest.approx(sum(f1s) / 7)


def test_confident_and_right_is_perfectly_calibrated() -> None:
    labels = np.array([0, 1, 2, 3])
    assert evaluate(labels, np.eye(7)[labels]).ece == pytest.approx(0.0)
    assert evaluate(labels, np.eye(7)[(labels + 1) % 7]).ece == pytest.approx(1.0)


def test_probabilities_of_the_wrong_shape_are_rejected() -> None:
    with pytest.raises(ValueError, match="probs"):
        evaluate(np.array([0, 1]), np.zeros((2, 6)))


def test_selective_accuracy_names_fewer_faces_and_gets_more_right_as_the_threshold_rises() -> None:
    from models.training.metrics import choose_threshold, selective_curve

    # Four faces: confident and right, confident and wrong, unsure and right, unsure and wrong.
    probs = np.array([[0.9] + [0.1 / 6] * 6, [0.8] + [0.2 / 6] * 6, [0.4] + [0.6 / 6] * 6, [0.3] + [0.7 / 6] * 6])
    labels = np.array([0, 1, 0, 1])
    points = {p.threshold: p for p in selective_curve(labels, probs, (0.2, 0.5, 0.85))}
    assert (points[0.2].coverage, points[0.2].accuracy_confident) == (1.0, 0.5)
    assert (points[0.5].coverage, points[0.5].accuracy_confident, points[0.5].accuracy_uncertain) == (0.5, 0.5, 0.5)
    assert (points[0.85].coverage, points[0.85].accuracy_confident) == (0.25, 1.0)
    assert choose_threshold(list(points.values()), target=0.8).threshold == 0.85
    with pytest.raises(ValueError, match="no threshold"):
        choose_threshold([points[0.2]], target=0.8)
