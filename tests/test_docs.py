"""The docs name only what exists: every command, env var and script they show is real, and
docs/configuration.md lists every setting the services read (so it cannot drift from the code)."""

import re
from pathlib import Path

import pytest

from emostream.cli import build_parser
from emostream.settings import AggregatorSettings, ApiSettings, ProducerSettings, WorkerSettings
from models.__main__ import COMMANDS

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted([REPO / "README.md", REPO / "models" / "MODEL_CARD.md", *(REPO / "docs").rglob("*.md")])
SERVICES = (ProducerSettings, WorkerSettings, AggregatorSettings, ApiSettings)
# Read by code that is not a service's settings: training data (models/training/data.py), the
# tests' data (tests/conftest.py) and docker-compose.yml's user id.
OTHER_VARIABLES = {"EMO_DATA_DIR", "EMO_SHARED_DIR", "EMO_UID"}


def settings_variables() -> set[str]:
    names: set[str] = set()
    for settings in SERVICES:
        prefixed, aliases = settings.variables()
        names |= prefixed | aliases
    return names


def code_in(text: str) -> str:
    """The fenced blocks and inline code spans of a markdown text: where commands are shown."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", text, flags=re.M | re.S))
    return "\n".join(fenced + inline)


def emostream_commands() -> set[str]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.choices and isinstance(a.choices, dict)]  # the subparsers
    return {str(name) for name in commands.choices or ()}


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_variable_a_doc_names_is_read_by_the_code(doc: Path) -> None:
    known = settings_variables() | OTHER_VARIABLES
    for name in set(re.findall(r"\bEMO_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_]*\*)", doc.read_text())):
        assert name in known, f"{doc.name} names {name}, which nothing reads"


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_command_a_doc_shows_exists(doc: Path) -> None:
    code = code_in(doc.read_text())
    for command in set(re.findall(r"(?:^|[\s/(])emostream ([a-z][a-z-]*)", code, flags=re.M)):
        assert command in emostream_commands(), f"{doc.name} shows `emostream {command}`, which the CLI lacks"
    for command in set(re.findall(r"python -m\s+models ([a-z]+)", code)):
        assert command in COMMANDS, f"{doc.name} shows `python -m models {command}`, which does not exist"
    assert not re.search(r"python -m\s+models\.[a-z]", code), f"{doc.name}: models' commands are `python -m models X`"
    for script in set(re.findall(r"\b((?:scripts|bench)/[a-z_]+(?:\.py)?)\b", code)):
        assert (REPO / script).exists(), f"{doc.name} names {script}, which is not in the repository"


def test_the_configuration_page_lists_every_setting_the_services_read() -> None:
    page = (REPO / "docs" / "configuration.md").read_text()
    missing = sorted(name for name in settings_variables() if f"`{name}`" not in page)
    assert not missing, f"docs/configuration.md lacks {missing}"
