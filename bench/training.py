"""Training speed by precision: seconds per step of a recipe's network in float32 and in mixed bfloat16.

    KERAS_BACKEND=tensorflow .venv/bin/python bench/training.py [--arch vggbn-wide] [--steps 40]

Each precision trains in a fresh process of its own (the Keras dtype policy is
process-wide) on random 48x48 faces with the recipe's batch size, optimizer and loss:
one warm-up pass, then ``--steps`` timed steps. Prints both figures and their ratio
from one run; the machine is shared, so compare the ratio, not absolutes. Accuracy is
not measured here: a precision is adopted only after a full run (models/MODEL_CARD.md).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import cpu_description

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def seconds_per_step(arch: str, precision: str, steps: int) -> float:
    import keras
    import numpy as np

    from models.training.recipes import all_recipes
    from models.training.train import build_model

    recipe = all_recipes()[arch]
    keras.mixed_precision.set_global_policy(precision)
    model = build_model(recipe, steps_per_epoch=steps)
    rng = np.random.default_rng(0)
    x = rng.random((recipe.batch_size * steps, 48, 48, 1), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 7, len(x)), 7)
    model.fit(x, y, batch_size=recipe.batch_size, epochs=1, verbose=0)  # builds and traces the step
    started = time.perf_counter()
    model.fit(x, y, batch_size=recipe.batch_size, epochs=1, verbose=0)
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="vggbn-wide", help="a recipe name from models/training/recipes.py")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--precision", help=argparse.SUPPRESS)  # the child process's one measurement
    args = parser.parse_args()
    if args.precision:
        print(json.dumps({"seconds_per_step": seconds_per_step(args.arch, args.precision, args.steps)}))
        return
    print(f"CPU: {cpu_description()}", flush=True)
    measured = {}
    for precision in ("float32", "mixed_bfloat16"):
        child = [sys.executable, __file__, "--arch", args.arch, "--steps", str(args.steps), "--precision", precision]
        reply = subprocess.run(child, capture_output=True, text=True, check=True)
        measured[precision] = json.loads(reply.stdout.strip().splitlines()[-1])["seconds_per_step"]
        print(f"{args.arch} {precision}: {measured[precision] * 1000:.0f} ms per step of {args.steps}")
    print(f"mixed_bfloat16 / float32 speed: {measured['float32'] / measured['mixed_bfloat16']:.2f}x")


if __name__ == "__main__":
    main()
