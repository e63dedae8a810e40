"""Training recipes: every hyperparameter in one record, saved beside each run.

Choices are made on PublicTest and recorded in the model card, not edited into code paths.
"""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Recipe:
    arch: str
    epochs: int
    batch_size: int
    learning_rate: float
    schedule: str  # "constant" or "cosine" (with a linear warm-up)
    warmup_epochs: int
    weight_decay: float
    label_smoothing: float
    augment: bool
    clean: bool = True  # models/cleaning.py: drop leaked, conflicting, duplicate and not-a-face rows
    seed: int = 1

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


RECIPES: dict[str, Recipe] = {
    # The classic report's recipe: Adam 1e-4, batch 64, 50 epochs, no augmentation.
    "baseline": Recipe(
        arch="baseline",
        epochs=50,
        batch_size=64,
        learning_rate=1e-4,
        schedule="constant",
        warmup_epochs=0,
        weight_decay=0.0,
        label_smoothing=0.0,
        augment=False,
    ),
    "vggbn": Recipe(
        arch="vggbn",
        epochs=40,
        batch_size=64,
        learning_rate=2e-3,
        schedule="cosine",
        warmup_epochs=1,
        weight_decay=1e-4,
        label_smoothing=0.1,
        augment=True,
    ),
}
