"""A JSON object with one long list, read a piece at a time, against the json module reading it whole."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from aggregator import streamedjson
from aggregator.writers import write_json_streamed

FRAMES = [
    {"index": i, "t_ms": i * 100, "ok": i % 2 == 0, "faces": [{"box": [i, 2, 3, 4], "p": -1.25e-3 * i}]}
    for i in range(12)
]
TIMELINE: dict[str, Any] = {
    "video_id": "会议",
    "fps": 29.97,
    "box_scale": 1.5,
    "cuts_ms": [667, 2736],
    "detector": None,
    "empty": {},
    "frames": FRAMES,
}


def read(path: Path, key: str = "frames") -> tuple[dict[str, Any], list[Any]]:
    head, items = {}, []
    for name, value in streamedjson.fields(path, key):
        if name == key:
            items.append(value)
        else:
            head[name] = value
    return head, items


@pytest.mark.parametrize("chunk_chars", [1, 2, 3, 5, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 1, 4])
def test_it_reads_what_json_reads_whatever_the_window_and_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_chars: int, indent: int | None
) -> None:
    """Windows of a few characters cut numbers (29 of 29.97, -0 of -0.00125) and names in two."""
    monkeypatch.setattr(streamedjson, "CHUNK_CHARS", chunk_chars)
    path = tmp_path / "timeline.json"
    path.write_text(json.dumps(TIMELINE, indent=indent, ensure_ascii=False), encoding="utf-8")
    head, frames = read(path)
    assert frames == TIMELINE["frames"]
    assert head == {k: v for k, v in TIMELINE.items() if k != "frames"}


def test_it_reads_the_timeline_as_the_aggregator_writes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streamedjson, "CHUNK_CHARS", 7)
    path = tmp_path / "timeline.json"
    head = {k: v for k, v in TIMELINE.items() if k != "frames"}
    write_json_streamed(path, head, "frames", iter(FRAMES))
    assert read(path) == (head, TIMELINE["frames"])


def test_fields_after_the_list_and_an_empty_list_or_object_are_read(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"frames": [], "after": [1, {"x": "]}"}]}')
    assert list(streamedjson.fields(path, "frames")) == [("after", [1, {"x": "]}"}])]
    path.write_text(" { } ")
    assert list(streamedjson.fields(path, "frames")) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"frames": [{"a": 1}, {"a": 2', "it ends at character 29, within a value"),  # cut off mid-write
        ('{"frames": [{"a": 1}, {"a" 2}]}', "not JSON at character 27: Expecting ':' delimiter"),
        ('{"frames": [{"a": 1}] "x": 2}', "'}' expected at character 22"),
        ('["frames"]', "'{' expected at character 0"),
        ('{"frames": {"a": 1}}', "'[' expected at character 11"),
        ("{12: 1}", "a field name expected"),
        ("", "'{' expected at character 0, found 'the end'"),
    ],
)
def test_what_is_not_such_an_object_says_where(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(problem)):
        read(path)
