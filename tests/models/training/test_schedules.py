"""The warm-restart schedule: one cycle is Keras's CosineDecay; later cycles restart lower."""

import pytest

keras = pytest.importorskip("keras", reason="the training stack is the 'train' extra")

from models.training.recipes import all_recipes  # noqa: E402
from models.training.schedules import CosineRestarts  # noqa: E402

STEPS = 10


def rate(schedule: object, step: int) -> float:
    assert callable(schedule)
    return float(schedule(step))


def test_one_cycle_equals_cosine_decay_with_warmup() -> None:
    ours = CosineRestarts(peak=2e-3, cycle_steps=[16 * STEPS], warmup_steps=STEPS, restart_decay=0.5)
    keras_own = keras.optimizers.schedules.CosineDecay(
        2e-4, decay_steps=15 * STEPS, warmup_target=2e-3, warmup_steps=STEPS
    )
    for step in range(0, 17 * STEPS, 3):
        assert rate(ours, step) == pytest.approx(rate(keras_own, step), abs=1e-9)


def test_restart_jumps_to_the_decayed_peak_and_anneals_to_zero() -> None:
    schedule = CosineRestarts(peak=2e-3, cycle_steps=[4 * STEPS, 6 * STEPS], warmup_steps=STEPS, restart_decay=0.5)
    assert rate(schedule, 4 * STEPS - 1) < 1e-5
    assert rate(schedule, 4 * STEPS) == pytest.approx(1e-3)
    assert rate(schedule, 7 * STEPS) == pytest.approx(0.5e-3, rel=1e-4)
    assert rate(schedule, 10 * STEPS) == pytest.approx(0.0, abs=1e-9)
    assert rate(schedule, 12 * STEPS) == pytest.approx(0.0, abs=1e-9)


def test_schedule_survives_serialisation() -> None:
    schedule = CosineRestarts(peak=1e-3, cycle_steps=[5, 7], warmup_steps=1, restart_decay=0.3)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert [rate(again, s) for s in range(13)] == [rate(schedule, s) for s in range(13)]


def test_cycles_must_add_up_to_the_recipes_epochs() -> None:
    import dataclasses

    with pytest.raises(ValueError, match="do not add up"):
        dataclasses.replace(all_recipes()["vggbn"], epochs=10)
    assert dataclasses.replace(all_recipes()["vggbn"], epochs=10, cycle_epochs=()).cycles() == (10,)
