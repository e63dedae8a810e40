"""Training recipes: every hyperparameter in one record, saved beside each run.

Choices are made on PublicTest and recorded in the model card, not edited into code paths.
"""

from dataclasses import asdict, dataclass, replace

from models.training.augment import check_jitter, check_probability

PRECISIONS = ("float32", "mixed_bfloat16")
TEACHINGS = ("fixed", "consistent")
OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class Recipe:
    arch: str
    epochs: int
    batch_size: int
    learning_rate: float
    schedule: str  # "constant" or "cosine" (with a linear warm-up; models/training/schedules.py)
    warmup_epochs: int
    weight_decay: float
    label_smoothing: float
    augment: bool
    # Probability of random erasing per training face (models/training/augment.py); 0: none.
    erasing: float = 0.0
    # Photometric jitter strengths (models/training/augment.py): brightness and contrast factors drawn
    # from [1 - s, 1 + s] for every training face; 0: none.
    brightness: float = 0.0
    contrast: float = 0.0
    # Probability of each capture degradation per training face (blur, a smaller face, noise,
    # JPEG; models/training/augment.py); 0: none.
    degrade: float = 0.0
    # Mixup's Beta(alpha, alpha) concentration (models/training/augment.py): every batch blended with a
    # shuffled copy of itself, targets alike; 0: none.
    mixup: float = 0.0
    clean: bool = True  # models/training/cleaning.py: drop leaked, conflicting, duplicate and not-a-face rows
    seed: int = 1
    # Cosine cycles (warm restarts), in epochs; empty means one cycle over all epochs.
    cycle_epochs: tuple[int, ...] = ()
    restart_decay: float = 0.5  # each restart's peak learning rate relative to the previous one
    # Share of the target taken from the FER+ annotators' votes (models/training/targets.py); 0: one-hot.
    ferplus_weight: float = 0.0
    # Share of the target taken from teacher networks' mirror-averaged predictions
    # (models/training/distill.py; the teachers are named with --teacher); 0: no distillation.
    teacher_weight: float = 0.0
    # "fixed": the teachers' predictions on the unaugmented training faces, computed once and
    # cached. "consistent": the teachers predict every augmented batch the student sees (same
    # shift, rotation, flip and erasing), at the cost of their forward passes in every step.
    teaching: str = "fixed"
    # Keras dtype policy while training: "mixed_bfloat16" computes in bfloat16 with float32
    # weights. vggbn-wide on an AMD EPYC with AVX-512 BF16 (2 cores): 1.33x the steps per second
    # in bench/training.py, an epoch 108 to 126 s instead of 135 to 140. On an AMD EPYC with AVX2
    # only (no BF16 instructions) 0.10x: 10,100 against 1,027 ms per step. Finished networks are
    # always evaluated and exported in float32 (models.training.architectures.load_float32).
    precision: str = "float32"
    # "adam" (AdamW when weight_decay is set); "sgd": SGD with Nesterov momentum 0.9. In both,
    # Keras multiplies the weight decay by the learning rate.
    optimizer: str = "adam"
    # Sharpness-aware minimization's radius (models/training/sam.py): every step's gradient is taken at
    # the weights moved this far uphill; 0: plain steps. Twice the cost per step.
    sam_rho: float = 0.0

    def __post_init__(self) -> None:
        if self.cycle_epochs and sum(self.cycle_epochs) != self.epochs:
            raise ValueError(f"cycles {self.cycle_epochs} do not add up to {self.epochs} epochs")
        check_probability("erasing", self.erasing)
        check_jitter(self.brightness, self.contrast)
        check_probability("degrade", self.degrade)
        if self.mixup < 0.0:
            raise ValueError(f"mixup {self.mixup} is a Beta concentration, 0 (none) or more")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is not one of {PRECISIONS}")
        if self.teaching not in TEACHINGS:
            raise ValueError(f"teaching {self.teaching!r} is not one of {TEACHINGS}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} is not one of {OPTIMIZERS}")
        if self.sam_rho < 0.0:
            raise ValueError(f"sam_rho {self.sam_rho} is a radius, 0 (none) or more")

    def cycles(self) -> tuple[int, ...]:
        return self.cycle_epochs or (self.epochs,)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


VGGBN = Recipe(
    arch="vggbn",
    epochs=40,
    cycle_epochs=(16, 24),
    batch_size=64,
    learning_rate=2e-3,
    schedule="cosine",
    warmup_epochs=1,
    weight_decay=1e-4,
    label_smoothing=0.1,
    augment=True,
)

# vggbn-wide-kd-jitter and its continuation (described in RECIPES below).
JITTER = replace(VGGBN, arch="vggbn-wide", teacher_weight=0.7, seed=2, brightness=0.3, contrast=0.3)
# vggbn-wide-kd-jitter continued by a third cosine cycle of 12 epochs at a quarter of the first
# peak: the recipe served since 2026-12-02 (69.82 % fp32, 69.80 % int8, last 8 averaged; model card).
JITTER_CYCLE3 = replace(JITTER, epochs=52, cycle_epochs=(*JITTER.cycle_epochs, 12))

# Only the recipes behind the served network (and the classic report's baseline); the research
# recipes and what each measured are in models/experiments/recipes.py.
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
    # Two cosine cycles: the first 16 epochs reached 66 % on PublicTest (run vggbn16c), a
    # restart at half the peak for 24 more epochs continues from there. 67.87 %; the first teacher.
    "vggbn": VGGBN,
    # The same recipe on twice the widths after a full-resolution stem: 128 M multiply-adds
    # (vggbn: 117 M), four times the parameters. Measured 68.40 %; the served network's second teacher.
    "vggbn-wide": replace(VGGBN, arch="vggbn-wide"),
    # The served network's first 40 epochs: vggbn-wide from scratch on targets 0.3 label + 0.7 the
    # two teachers' mirror-averaged predictions (--teacher vggbn-e40.onnx --teacher
    # vggbn-wide-e40.onnx: the two recipes above, exported; docs/model/retired-artifacts.md), with
    # brightness and contrast jitter. Seed 2: the wide teacher was seed 1. 69.32 % fp32.
    "vggbn-wide-kd-jitter": JITTER,
    # The served network: the run above continued (--from) by a third cycle; last 8 averaged.
    "vggbn-wide-kd-jitter-cycle3": JITTER_CYCLE3,
}


def all_recipes() -> dict[str, Recipe]:
    """The served chain's recipes and the research ones, by name (what ``train --arch`` accepts)."""
    from models.experiments.recipes import RESEARCH_RECIPES  # research extends training, never the reverse

    return RECIPES | RESEARCH_RECIPES
