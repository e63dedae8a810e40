"""Sharpness-aware steps: the gradient is taken uphill and applied at the weights it started from."""

import numpy as np
import pytest

pytest.importorskip("keras", reason="the training stack is the 'train' extra")

import keras  # after the skip: the "train" extra may be absent

from models.training.recipes import Recipe, all_recipes
from models.training.sam import enable_sam

BACKEND = keras.backend.backend()
if BACKEND not in ("tensorflow", "jax"):
    pytest.skip("models.training.sam steps exist for the tensorflow and jax backends only", allow_module_level=True)

RATE = 0.5
RHO = 0.3


def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 3)).astype(np.float32), np.eye(2, dtype=np.float32)[rng.integers(0, 2, 16)]


def small_model(*, normalised: bool = False) -> keras.Model:
    keras.utils.set_random_seed(0)
    layers = [keras.Input((3,)), keras.layers.Dense(4, activation="tanh")]
    if normalised:
        layers.append(keras.layers.BatchNormalization(momentum=0.5))
    layers.append(keras.layers.Dense(2, activation="softmax"))
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=RATE), loss=keras.losses.CategoricalCrossentropy())
    return model


def gradient_at(model: keras.Model, weights: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """The loss gradient at ``weights``, by the backend's own differentiation (no SAM code)."""
    model.set_weights(weights)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True), training=True)
        return [g.numpy() for g in tape.gradient(loss, model.trainable_weights)]
    import jax

    def loss_at(trainable: list[object]) -> object:
        y_pred, _ = model.stateless_call(trainable, [], x, training=True)
        return keras.ops.mean(keras.losses.categorical_crossentropy(y, y_pred))

    return [np.asarray(g) for g in jax.grad(loss_at)([w.value for w in model.trainable_weights])]


def test_a_step_applies_the_uphill_gradient_at_the_starting_weights() -> None:
    x, y = batch()
    reference = small_model()
    start = reference.get_weights()
    gradients = gradient_at(reference, start, x, y)
    norm = np.sqrt(sum(float((g**2).sum()) for g in gradients))
    uphill = [w + RHO * g / norm for w, g in zip(start, gradients, strict=True)]
    expected = [w - RATE * g for w, g in zip(start, gradient_at(reference, uphill, x, y), strict=True)]
    plain = [w - RATE * g for w, g in zip(start, gradients, strict=True)]

    model = small_model()
    enable_sam(model, RHO)
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)

    for got, want, naive in zip(model.get_weights(), expected, plain, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert not np.allclose(want, naive, atol=1e-4)  # else the test could not tell SAM from a plain step


def test_batchnorm_statistics_count_one_pass_per_step() -> None:
    x, y = batch()
    plain = small_model(normalised=True)
    plain.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    model = small_model(normalised=True)
    enable_sam(model, RHO)
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    plain_norm = next(layer for layer in plain.layers if isinstance(layer, keras.layers.BatchNormalization))
    # Same first layer before the step, so one pass gives the plain run's moving statistics.
    for got, want in zip(norm.non_trainable_weights, plain_norm.non_trainable_weights, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_fit_reports_the_loss_of_the_first_pass() -> None:
    x, y = batch()
    model = small_model()
    before = float(model.evaluate(x, y, verbose=0))
    # Dense layers without dropout or BatchNorm: training and inference passes agree.
    enable_sam(model, RHO)
    history = model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(before, rel=1e-5)


def test_a_radius_must_be_positive() -> None:
    with pytest.raises(ValueError, match="radius"):
        enable_sam(small_model(), 0.0)
    recipe = all_recipes()["vggbn-wide-kd-jitter-cycle4-sam"]
    assert recipe.sam_rho > 0.0
    with pytest.raises(ValueError, match="sam_rho"):
        Recipe(**{**recipe.as_dict(), "sam_rho": -0.1})  # type: ignore[arg-type]
