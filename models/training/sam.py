"""Sharpness-aware minimization (Foret et al. 2021) as a training step for ``model.fit``.

Each step takes the gradient at the weights moved uphill by ``rho`` along the normalised
gradient, w + rho * g / |g|, and applies it at w: the optimizer (Adam here) then prefers
weights whose whole neighbourhood has a low loss. It costs a second forward and backward
pass per step. Zhou et al. (2025, "Sharpness-aware minimization efficiently selects flatter
minima late in training") found SAM in the last epochs alone reaches most of its gain, which
is how one recipe here uses it (one extra cosine cycle of a finished run); another uses it
over a whole run, as Foret et al. did.

Gradients are backend-specific in Keras 3, so the step is written twice: for TensorFlow (the
CPU runs) and for JAX (the GPU leases, whose steps are stateless). The PyTorch backend is
refused with a clear error rather than trained without it.
"""

from typing import Any

import keras

MIN_GRADIENT_NORM = 1e-12


def enable_sam(model: keras.Model, rho: float) -> None:
    """Make ``model.fit`` train ``model`` with SAM steps of radius ``rho`` (compiled models only)."""
    if rho <= 0.0:
        raise ValueError(f"SAM radius {rho} must be positive")
    backend = keras.backend.backend()
    steps = {"tensorflow": _tensorflow_step, "jax": _jax_step}
    if backend not in steps:
        raise NotImplementedError(f"SAM is implemented for the {' and '.join(steps)} backends, not {backend}")
    # An instance attribute: fit() calls self.train_step, and the saved network stays a plain
    # functional model that loads without this module.
    model.train_step = steps[backend](model, rho)


def uphill_moves(gradients: list[Any], rho: float) -> list[Any]:
    """The move of each weight to the point rho uphill, rho * g / |g| (backend-neutral ops)."""
    norm = keras.ops.sqrt(sum(keras.ops.sum(keras.ops.square(gradient)) for gradient in gradients))
    scale = rho / keras.ops.maximum(norm, MIN_GRADIENT_NORM)
    return [gradient * scale for gradient in gradients]


def _tensorflow_step(model: keras.Model, rho: float) -> Any:
    import tensorflow as tf

    def loss_and_gradients(x: Any, y: Any, sample_weight: Any) -> tuple[Any, Any, list[Any]]:
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        return loss, y_pred, tape.gradient(loss, model.trainable_weights)

    def sam_step(data: Any) -> dict[str, Any]:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        loss, y_pred, gradients = loss_and_gradients(x, y, sample_weight)
        moves = uphill_moves(gradients, rho)
        for weight, move in zip(model.trainable_weights, moves, strict=True):
            weight.assign_add(move)
        # The uphill pass must not count in the BatchNorm statistics: keep them as they were.
        statistics = [tf.identity(weight.value) for weight in model.non_trainable_weights]
        _, _, uphill_gradients = loss_and_gradients(x, y, sample_weight)
        for weight, value in zip(model.non_trainable_weights, statistics, strict=True):
            weight.assign(value)
        for weight, move in zip(model.trainable_weights, moves, strict=True):
            weight.assign_sub(move)
        model.optimizer.apply_gradients(zip(uphill_gradients, model.trainable_weights, strict=True))
        # Loss and metrics report the first pass, at the weights before the step, as Keras' own
        # step does (its loss tracker has no public name).
        model._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)  # type: ignore[no-any-return]

    return sam_step


def _jax_step(model: keras.Model, rho: float) -> Any:
    """Keras' own stateless JAX step (``JAXTrainer.train_step``) with the gradient taken uphill."""
    import jax

    value_and_gradients = jax.value_and_grad(model.compute_loss_and_updates, has_aux=True)

    def sam_step(state: Any, data: Any) -> tuple[dict[str, Any], Any]:
        trainable, non_trainable, optimizer_variables, metrics_variables = state
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)

        def gradients_at(weights: Any) -> tuple[Any, Any]:
            return value_and_gradients(  # type: ignore[no-any-return]
                weights,
                non_trainable,
                metrics_variables,
                x,
                y,
                sample_weight,
                training=True,
                optimizer_variables=optimizer_variables,
            )

        (_, (loss, y_pred, non_trainable_after, metrics_after)), gradients = gradients_at(trainable)
        uphill = [weight + move for weight, move in zip(trainable, uphill_moves(gradients, rho), strict=True)]
        # Only the first pass's BatchNorm statistics and metric states are kept, as in the
        # TensorFlow step; the uphill pass contributes its gradient alone.
        _, uphill_gradients = gradients_at(uphill)
        trainable, optimizer_variables = model.optimizer.stateless_apply(
            optimizer_variables, uphill_gradients, trainable
        )
        logs, metrics_variables = model._update_metrics_variables(metrics_after, loss, x, y, y_pred, sample_weight)
        return logs, (trainable, non_trainable_after, optimizer_variables, metrics_variables)

    return sam_step
