"""Run folders rebuilt from what a sweep brought back from a GPU lease, ready for ``models export``.

    python -m models unpack SWEEP_OUT [--runs runs] [NAME ...]

``models sweep`` copies each averaged network out in parts (a device call returns files of
limited size) and each run's record, history and epoch count into ``SWEEP_OUT/summary.json``.
This puts each averaged run back as ``RUNS/NAME/``: ``averaged.keras`` joined from its parts,
``run.json``, ``history.csv`` and ``state.json``, which is what ``models export --run RUNS/NAME
--checkpoint averaged.keras`` reads. A part that is missing or cut short, or parts that join to
other bytes than the sweep averaged (its SHA-256 in the summary), are an error rather than a
network that fails to load later; an existing run folder is never overwritten.
"""

import argparse
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from models.training.runfolder import AVERAGED, HISTORY, write_atomically, write_epochs_done

log = logging.getLogger(__name__)

SUMMARY = "summary.json"


def unpack(sweep_out: Path, runs: Path, names: list[str] | None = None) -> list[str]:
    """Rebuild the averaged runs of ``sweep_out`` (those in ``names``, else all) under ``runs``;
    the names rebuilt. Runs that were not averaged (stopped before their last epoch) are skipped."""
    summary: dict[str, dict[str, Any]] = json.loads((sweep_out / SUMMARY).read_text())
    unknown = sorted(set(names or []) - set(summary))
    if unknown:
        raise SystemExit(f"{sweep_out / SUMMARY} has no run named {', '.join(unknown)} (it has {sorted(summary)})")
    rebuilt = []
    for name, entry in summary.items():
        if names and name not in names:
            continue
        if "parts" not in entry:
            log.warning("%s: not averaged (%d of %d epochs), skipped", name, entry["epochs_done"], entry["epochs"])
            continue
        rebuild_run(sweep_out, entry, runs / name)
        rebuilt.append(name)
        log.info("%s: %s (%d epochs, %s)", name, runs / name, entry["epochs_done"], entry.get("averaged"))
    return rebuilt


def rebuild_run(sweep_out: Path, entry: dict[str, Any], run: Path) -> None:
    """One run folder from its summary entry and its parts (all but the last part are full-sized)."""
    if run.exists():
        raise SystemExit(f"{run} exists: move it away, or unpack into another --runs folder")
    parts = [sweep_out / part for part in entry["parts"]]
    if missing := [part.name for part in parts if not part.is_file()]:
        raise SystemExit(f"parts missing from {sweep_out}: {', '.join(missing)}")
    sizes = [part.stat().st_size for part in parts]
    if any(size != sizes[0] for size in sizes[:-1]) or sizes[-1] > sizes[0] or not sizes[-1]:
        raise SystemExit(f"parts of {parts[0].name} have unequal sizes {sizes}: one was cut short in transfer")
    network = b"".join(part.read_bytes() for part in parts)
    if "sha256" in entry and hashlib.sha256(network).hexdigest() != entry["sha256"]:
        raise SystemExit(f"parts of {parts[0].name} joined do not match the network the sweep averaged (SHA-256)")
    run.mkdir(parents=True)
    write_atomically(run / AVERAGED, lambda path: path.write_bytes(network))
    record = json.dumps(entry["run"], indent=2)  # as models.training.train writes it
    write_atomically(run / "run.json", lambda path: path.write_text(record))
    write_atomically(run / HISTORY, lambda path: path.write_text(entry["history"]))
    write_epochs_done(run, int(entry["epochs_done"]))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep_out", type=Path, help="the folder a sweep's --out named, as brought back")
    parser.add_argument("names", nargs="*", help="runs to rebuild (default: every averaged run)")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="where the run folders go")


def run(args: argparse.Namespace) -> None:
    rebuilt = unpack(args.sweep_out, args.runs, args.names)
    print(json.dumps({"rebuilt": [str(args.runs / name) for name in rebuilt]}))
