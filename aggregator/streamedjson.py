"""Reading a JSON object with one long list in it, such as ``timeline.json``, a piece at a time.

An hour of a crowd makes a ``timeline.json`` of 290 MB, which ``json.loads`` turned into 1.4 GB of
objects; the render (``aggregator.render``) needs only the frames near the one it draws. This reads
the object's other fields whole and yields the list's items one by one, with the json module's own
decoder on a window of the file, so memory holds a window and an item. Any JSON of that shape is
read, compact (``aggregator.writers.write_json_streamed``) or indented.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

CHUNK_CHARS = 1 << 20
WHITESPACE = " \t\n\r"
AFTER_A_VALUE = WHITESPACE + ",:]}"
_DECODER = json.JSONDecoder()


def fields(path: Path, key: str) -> Iterator[tuple[str, Any]]:
    """(name, value) of each field of the object in ``path``, in file order; the list under ``key``
    comes as one (``key``, item) for each of its items. Raises ``ValueError`` where it is not JSON
    of that shape."""
    with path.open(encoding="utf-8") as text:
        window = _Window(text)
        window.expect("{")
        if window.next_is("}"):
            return
        while True:
            name = window.value()
            if not isinstance(name, str):
                raise ValueError(f"{path}: a field name expected at character {window.offset}")
            window.expect(":")
            if name == key:
                yield from ((name, item) for item in _items(window))
            else:
                yield name, window.value()
            if not window.next_is(","):
                window.expect("}")
                return


def _items(window: "_Window") -> Iterator[Any]:
    window.expect("[")
    if window.next_is("]"):
        return
    while True:
        yield window.value()
        if not window.next_is(","):
            window.expect("]")
            return


class _Window:
    """The part of a text file being read: whitespace skipped, one token or JSON value at a time."""

    def __init__(self, text: TextIO) -> None:
        self._text, self._buffer, self._at, self._read_before, self._ended = text, "", 0, 0, False

    @property
    def offset(self) -> int:
        return self._read_before + self._at

    def next_is(self, char: str) -> bool:
        """Whether the next character past whitespace is ``char`` (then passed)."""
        self._skip_whitespace()
        if self._buffer.startswith(char, self._at):
            self._at += 1
            return True
        return False

    def expect(self, char: str) -> None:
        if not self.next_is(char):
            found = self._buffer[self._at : self._at + 1] or "the end"
            raise ValueError(f"{char!r} expected at character {self.offset}, found {found!r}")

    def value(self) -> Any:
        self._skip_whitespace()
        while True:
            try:
                value, end = _DECODER.raw_decode(self._buffer, self._at)
            except json.JSONDecodeError as exc:
                if self._more():
                    continue
                if exc.pos >= len(self._buffer):
                    raise ValueError(f"it ends at character {self._read_before + exc.pos}, within a value") from None
                raise ValueError(f"not JSON at character {self._read_before + exc.pos}: {exc.msg}") from None
            # A number cut at the window's end decodes short (12 of 123, 29 of 29.97): a value is
            # over where what follows could follow it.
            if (end < len(self._buffer) and self._buffer[end] in AFTER_A_VALUE) or not self._more():
                self._at = end
                return value

    def _skip_whitespace(self) -> None:
        while True:
            while self._at < len(self._buffer) and self._buffer[self._at] in WHITESPACE:
                self._at += 1
            if self._at < len(self._buffer) or not self._more():
                return

    def _more(self) -> bool:
        """Read the next chunk into the window (dropping what was passed); False at the file's end."""
        if self._ended:
            return False
        chunk = self._text.read(CHUNK_CHARS)
        if not chunk:
            self._ended = True
            return False
        self._read_before += self._at
        self._buffer, self._at = self._buffer[self._at :] + chunk, 0
        return True
