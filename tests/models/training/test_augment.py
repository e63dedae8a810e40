"""Training-time augmentation: random erasing, photometric jitter and mixup on top of the geometric perturbations."""

import numpy as np
import pytest

from models.training.augment import Augmentation

FACE = np.random.default_rng(0).integers(0, 256, size=(48, 48), dtype=np.uint8)


def erased_box(seed: int, probability: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The same face augmented with and without erasing from the same random state."""
    plain = Augmentation()._one(FACE, np.random.default_rng(seed))
    erased = Augmentation(erase_probability=probability)._one(FACE, np.random.default_rng(seed))
    return plain, erased


@pytest.mark.parametrize("seed", range(20))
def test_erasing_replaces_one_rectangle_of_2_to_33_percent_of_the_face(seed: int) -> None:
    plain, erased = erased_box(seed)
    rows, cols = np.nonzero(plain != erased)
    assert len(rows) > 0
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    # Outside the bounding box of the changes, nothing moved; inside, most pixels are new noise.
    outside = np.ones_like(plain, dtype=bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(plain[outside], erased[outside])
    box = (bottom - top) * (right - left)
    assert 0.02 * 48 * 48 * 0.5 <= box <= 0.33 * 48 * 48 * 1.1  # rounding of the sides
    assert len(rows) >= 0.9 * box


def test_no_erasing_draws_no_random_numbers_so_earlier_recipes_are_reproduced() -> None:
    first, second = np.random.default_rng(5), np.random.default_rng(5)
    a = Augmentation().apply(np.stack([FACE] * 8), first)
    b = Augmentation(erase_probability=0.0).apply(np.stack([FACE] * 8), second)
    assert np.array_equal(a, b)
    assert first.random() == second.random()


def test_about_the_given_share_of_faces_is_erased_and_the_input_is_left_alone() -> None:
    before = FACE.copy()
    changed = [not np.array_equal(*erased_box(seed, probability=0.5)) for seed in range(400)]
    assert 0.4 < np.mean(changed) < 0.6
    assert np.array_equal(FACE, before)
    out = Augmentation(erase_probability=1.0).apply(np.stack([FACE] * 3), np.random.default_rng(1))
    assert out.shape == (3, 48, 48)
    assert out.dtype == np.uint8


def test_a_recipe_refuses_an_erasing_share_outside_0_to_1() -> None:
    from dataclasses import replace

    from models.training.recipes import all_recipes

    with pytest.raises(ValueError, match="probability"):
        replace(all_recipes()["vggbn-wide-kd"], erasing=1.5)
    assert all_recipes()["vggbn-wide-kd-erase"].erasing == 0.5


def batch_of(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    faces = rng.random((n, 48, 48, 1), dtype=np.float32)
    targets = rng.dirichlet(np.ones(7), size=n).astype(np.float32)
    return faces, targets


def test_mixup_blends_each_face_and_its_target_with_one_partner_by_the_same_weight() -> None:
    from models.training.augment import mix_up

    faces, targets = batch_of(16)
    mixed_faces, mixed_targets = mix_up(faces, targets, 0.2, np.random.default_rng(3))
    assert mixed_faces.dtype == mixed_targets.dtype == np.float32
    assert np.allclose(mixed_targets.sum(axis=1), 1.0, atol=1e-5)  # still distributions
    # A generator with the same seed draws the same weight and partner: every row must match them.
    rng = np.random.default_rng(3)
    weight, partner = rng.beta(0.2, 0.2), rng.permutation(16)
    assert np.allclose(mixed_faces, weight * faces + (1 - weight) * faces[partner], atol=1e-6)
    assert np.allclose(mixed_targets, weight * targets + (1 - weight) * targets[partner], atol=1e-6)
    assert not np.allclose(mixed_faces, faces)


def test_mixup_at_alpha_0_returns_the_batch_and_draws_no_random_numbers() -> None:
    from models.training.augment import mix_up

    faces, targets = batch_of(4)
    first, second = np.random.default_rng(9), np.random.default_rng(9)
    out_faces, out_targets = mix_up(faces, targets, 0.0, first)
    assert out_faces is faces
    assert out_targets is targets
    assert first.random() == second.random()


def test_a_recipe_refuses_a_negative_mixup_concentration() -> None:
    from dataclasses import replace

    from models.training.recipes import all_recipes

    with pytest.raises(ValueError, match="Beta"):
        replace(all_recipes()["vggbn-wide-kd"], mixup=-0.1)
    assert all_recipes()["vggbn-wide-kd-mixup"].mixup == 0.2
    assert replace(all_recipes()["vggbn-wide-kd-mixup"], mixup=0.0) == all_recipes()["vggbn-wide-kd"]


# Mid-gray values, so that neither factor in [0.7, 1.3] clips: the jitter is then exactly affine.
MID_FACE = np.random.default_rng(1).integers(80, 171, size=(48, 48), dtype=np.uint8)


def jittered(seed: int, **strengths: float) -> tuple[np.ndarray, np.ndarray]:
    """The same face augmented with and without jitter from the same random state."""
    plain = Augmentation()._one(MID_FACE, np.random.default_rng(seed)).astype(np.float64)
    jitter = Augmentation(**strengths)._one(MID_FACE, np.random.default_rng(seed)).astype(np.float64)  # type: ignore[arg-type]
    return plain, jitter


def fitted_factor(plain: np.ndarray, bright: np.ndarray) -> float:
    """The brightness factor that best maps ``plain`` onto ``bright`` (least squares through 0)."""
    return float((plain * bright).sum() / (plain * plain).sum())


@pytest.mark.parametrize("seed", range(10))
def test_brightness_multiplies_the_whole_face_by_one_factor_within_its_range(seed: int) -> None:
    plain, bright = jittered(seed, brightness=0.3)
    factor = fitted_factor(plain, bright)
    assert 0.7 <= factor <= 1.3
    # Rounding only (the fitted factor is itself off by rounding): the geometry is unchanged.
    assert np.abs(bright - factor * plain).max() <= 0.6


@pytest.mark.parametrize("seed", range(10))
def test_contrast_scales_the_face_about_its_mean_gray_by_one_factor_within_its_range(seed: int) -> None:
    plain, contrasted = jittered(seed, contrast=0.3)
    assert abs(contrasted.mean() - plain.mean()) <= 0.51
    factor = float(contrasted.std() / plain.std())
    assert 0.69 <= factor <= 1.31
    expected = factor * plain + (1 - factor) * plain.mean()
    assert np.abs(contrasted - expected).max() <= 1.01


def test_jitter_factors_spread_over_their_range_and_bright_faces_clip_at_white() -> None:
    factors = []
    for seed in range(200):
        plain, bright = jittered(seed, brightness=0.3)
        factors.append(fitted_factor(plain, bright))
    assert min(factors) < 0.75
    assert max(factors) > 1.25
    white = np.full((2, 48, 48), 250, dtype=np.uint8)
    out = Augmentation(brightness=0.9).apply(white, np.random.default_rng(0))
    assert out.dtype == np.uint8
    assert out.max() <= 255


def test_no_jitter_draws_no_random_numbers_so_earlier_recipes_are_reproduced() -> None:
    first, second = np.random.default_rng(5), np.random.default_rng(5)
    a = Augmentation().apply(np.stack([FACE] * 8), first)
    b = Augmentation(brightness=0.0, contrast=0.0).apply(np.stack([FACE] * 8), second)
    assert np.array_equal(a, b)
    assert first.random() == second.random()


@pytest.mark.parametrize("strength", [-0.1, 1.0])
def test_jitter_strengths_outside_0_to_1_are_refused_by_the_augmentation_and_the_recipe(strength: float) -> None:
    from dataclasses import replace

    from models.training.recipes import all_recipes

    with pytest.raises(ValueError, match="brightness"):
        Augmentation(brightness=strength)
    with pytest.raises(ValueError, match="contrast"):
        replace(all_recipes()["vggbn-wide-kd"], contrast=strength)


def test_the_jitter_recipe_is_the_served_recipe_with_jitter_and_training_applies_it() -> None:
    from dataclasses import replace

    from models.training.recipes import all_recipes
    from models.training.train import augmentation_for

    jitter = all_recipes()["vggbn-wide-kd-jitter"]
    assert replace(jitter, brightness=0.0, contrast=0.0) == all_recipes()["vggbn-wide-kd"]
    augmentation = augmentation_for(jitter)
    assert augmentation is not None
    assert (augmentation.brightness, augmentation.contrast) == (0.3, 0.3)
    assert augmentation_for(replace(jitter, augment=False)) is None


def test_capture_degradation_is_off_by_default_and_draws_nothing_then() -> None:
    """Recipes without it reproduce their earlier augmentations exactly: the geometric draws only."""
    assert Augmentation().degrade == 0.0
    used = np.random.default_rng(5)
    Augmentation()._one(FACE, used)
    replayed = np.random.default_rng(5)
    replayed.uniform(), replayed.uniform(), replayed.uniform(size=2), replayed.random()  # rotation, zoom, shift, flip
    assert used.random() == replayed.random()


@pytest.mark.parametrize("probability", [-0.1, 1.5])
def test_a_degradation_probability_outside_0_to_1_is_refused(probability: float) -> None:
    from dataclasses import replace

    from models.training.recipes import all_recipes

    with pytest.raises(ValueError, match="degrade"):
        Augmentation(degrade=probability)
    with pytest.raises(ValueError, match="degrade"):
        replace(all_recipes()["vggbn-wide-kd-jitter"], degrade=probability)


def test_full_degradation_blurs_shrinks_adds_noise_and_compresses_every_face() -> None:
    from models.training.augment import add_noise, blur, jpeg_round_trip, shrink_and_enlarge

    smooth = np.tile(np.linspace(40, 215, 48, dtype=np.uint8), (48, 1))
    degraded = Augmentation(flip=False, max_rotation_deg=0, max_shift_frac=0, zoom_range=(1, 1), degrade=1.0)
    faces = degraded.apply(np.stack([FACE] * 8), np.random.default_rng(3))
    assert faces.shape == (8, 48, 48)
    assert faces.dtype == np.uint8
    # Blurring and shrinking remove most of the random face's pixel-to-pixel detail, which noise does not restore.
    assert np.abs(np.diff(faces.astype(float), axis=-1)).mean() < 0.6 * np.abs(np.diff(FACE.astype(float))).mean()
    assert len({face.tobytes() for face in faces}) == 8  # strengths are drawn per face
    assert np.abs(blur(FACE, 1.0).astype(float) - FACE).mean() > 20
    assert shrink_and_enlarge(FACE, 24).shape == (48, 48)
    noisy = add_noise(smooth, 8.0, np.random.default_rng(0)).astype(float) - smooth
    assert 7.0 < noisy.std() < 9.0
    compressed = jpeg_round_trip(FACE, 30)
    assert compressed.shape == FACE.shape
    assert 0 < np.abs(compressed.astype(float) - FACE).mean() < 60


def test_the_capture_recipe_is_its_control_with_degradation_and_both_continue_the_served_run() -> None:
    from dataclasses import replace

    from models.training.recipes import all_recipes
    from models.training.train import augmentation_for

    capture, control, served = (
        all_recipes()["vggbn-wide-kd-jitter-capture"],
        all_recipes()["vggbn-wide-kd-jitter-cycle3"],
        all_recipes()["vggbn-wide-kd-jitter"],
    )
    assert replace(capture, degrade=0.0) == control
    assert control.cycles()[:2] == served.cycles()
    assert control.epochs == served.epochs + 12
    assert replace(control, epochs=served.epochs, cycle_epochs=served.cycle_epochs) == served
    augmentation = augmentation_for(capture)
    assert augmentation is not None
    assert augmentation.degrade == 0.2
