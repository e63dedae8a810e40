"""The one entry point for training and research: ``python -m models COMMAND [ARGS]``.

Each command is a module with ``add_arguments(parser)`` and ``run(args)``; only the chosen one
is imported, so ``python -m models`` lists them without loading Keras. Training and research
need a source checkout with the ``train`` extra; the serving wheel carries neither.
"""

import argparse
import importlib
import logging
import sys
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Command:
    module: str
    summary: str


TRAINING = {
    "train": Command("models.training.train", "train a network from a recipe (resumable; --from continues a run)"),
    "average": Command("models.training.average", "average a run's last epochs into averaged.keras"),
    "export": Command("models.training.export", "export a run to ONNX (fp32, and int8 unless --no-int8)"),
    "quantize": Command("models.training.quantize", "quantize an fp32 artifact to int8 again"),
    "calibrate": Command("models.training.calibrate", "fit the temperature; choose the uncertain threshold"),
    "evaluate": Command("models.training.evaluate", "the honest evaluation report: metrics, plots, activations"),
    "distill": Command("models.training.distill", "cache teachers' targets ahead of a run, or extend a run's cache"),
}
RESEARCH = {
    "sweep": Command("models.experiments.sweep", "train several recipes until a deadline (GPU leases)"),
    "unpack": Command("models.experiments.unpack", "rebuild run folders from what a sweep brought back"),
    "recover": Command("models.experiments.recover", "rebuild an exported fp32 network as a run to continue"),
    "compare": Command("models.experiments.compare", "pair two artifacts on PublicTest (McNemar)"),
    "ensemble": Command("models.experiments.ensemble", "score networks averaged together"),
    "lighting": Command("models.experiments.lighting", "accuracy on relit PublicTest faces"),
    "capture": Command("models.experiments.capture", "accuracy on faces degraded as cameras capture them"),
    "framing": Command("models.experiments.framing", "how detected faces are framed for the network, and its cost"),
}
COMMANDS = TRAINING | RESEARCH


def overview() -> str:
    def rows(commands: dict[str, Command]) -> str:
        return "\n".join(f"  {name:<10} {command.summary}" for name, command in commands.items())

    return f"training (the served model's chain):\n{rows(TRAINING)}\n\nresearch:\n{rows(RESEARCH)}"


def load(name: str) -> ModuleType:
    try:
        return importlib.import_module(COMMANDS[name].module)
    except ModuleNotFoundError as error:
        if error.name is not None and error.name.startswith(("models.training", "models.experiments")):
            raise SystemExit(
                "training and research need a source checkout: git clone the repository and run scripts/setup dev"
            ) from error
        raise


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    top = argparse.ArgumentParser(
        prog="python -m models", epilog=overview(), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    top.add_argument("command", choices=COMMANDS, metavar="COMMAND", help="one of the commands below")
    chosen = top.parse_args(argv[:1])
    module = load(chosen.command)
    parser = argparse.ArgumentParser(
        prog=f"python -m models {chosen.command}",
        description=module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    module.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
