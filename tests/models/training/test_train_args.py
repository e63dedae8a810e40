"""The training command line: a recipe by name, with overrides recorded in the recipe itself."""

import argparse
import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("keras", reason="the training stack is the 'train' extra")

from models.training.recipes import all_recipes
from models.training.train import add_arguments, recipe_from_args


def parse(argv: list[str]) -> argparse.Namespace:
    """``train``'s arguments, with the data folders named (they are required without EMO_DATA_DIR)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args([*argv, "--data", "fer2013", "--ferplus", "ferplus"])


def test_without_overrides_the_named_recipe_is_used_unchanged() -> None:
    args = parse(["--arch", "vggbn-wide", "--out", "runs/x"])
    assert recipe_from_args(args) == all_recipes()["vggbn-wide"]


def test_overrides_change_only_what_they_name() -> None:
    argv = ["--arch", "vggbn-wide", "--out", "runs/x", "--seed", "3", "--teacher-weight", "0.5", "--no-clean"]
    recipe = recipe_from_args(parse(argv))
    expected = dataclasses.replace(all_recipes()["vggbn-wide"], seed=3, teacher_weight=0.5, clean=False)
    assert recipe == expected
    assert recipe.cycles() == all_recipes()["vggbn-wide"].cycles()


def test_an_epoch_override_is_one_cosine_cycle() -> None:
    recipe = recipe_from_args(parse(["--out", "runs/x", "--epochs", "5"]))
    assert (recipe.epochs, recipe.cycles()) == (5, (5,))


def test_precision_is_an_override_and_unknown_precisions_are_refused() -> None:
    argv = ["--arch", "vggbn-wide-kd", "--out", "runs/x", "--precision", "mixed_bfloat16"]
    recipe = recipe_from_args(parse(argv))
    assert recipe == dataclasses.replace(all_recipes()["vggbn-wide-kd"], precision="mixed_bfloat16")
    with pytest.raises(ValueError, match="precision 'float16'"):
        dataclasses.replace(recipe, precision="float16")


def test_unknown_teaching_is_refused() -> None:
    assert all_recipes()["vggbn-narrow-kd-consistent"].teaching == "consistent"
    with pytest.raises(ValueError, match="teaching 'online'"):
        dataclasses.replace(all_recipes()["vggbn-narrow-kd"], teaching="online")


def test_from_copies_the_finished_run_and_its_teacher_cache_once(tmp_path: Path) -> None:
    from models.training.train import continue_run

    source, continued = tmp_path / "source", tmp_path / "continued"
    source.mkdir()
    for name in ("state.json", "history.csv", "checkpoint.keras", "teacher.npz"):
        (source / name).write_text(f"source {name}")
    continue_run(source, continued)
    copied = sorted(p.name for p in continued.iterdir())
    assert copied == ["checkpoint.keras", "history.csv", "state.json", "teacher.npz"]  # no best.keras to copy
    # Once: a continuation that has trained keeps its own files when the command is run again.
    (continued / "state.json").write_text("continued")
    continue_run(source, continued)
    assert (continued / "state.json").read_text() == "continued"


def test_from_refuses_a_source_without_a_checkpoint(tmp_path: Path) -> None:
    from models.training.train import continue_run

    with pytest.raises(FileNotFoundError, match=r"no checkpoint\.keras"):
        continue_run(tmp_path, tmp_path / "continued")
