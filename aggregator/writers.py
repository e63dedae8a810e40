"""Atomic output files: written to a temporary name, then renamed, so no reader sees half a file.

The temporary file is made private (``mkstemp``: mode 0600); the output gets the mode any file
this process creates would have (0644 under the usual umask 022), as ``annotated.mp4`` and the
logs do, so that a web server, the API or a colleague running as another user can read it.
"""

import csv
import errno
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def _new_file_mode() -> int:
    """0o666 less the umask (read by setting it, so once, at import, before any thread starts)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


NEW_FILE_MODE = _new_file_mode()


def _set_new_file_mode(fd: int) -> None:
    """``NEW_FILE_MODE`` on the temporary file, where the file system keeps Unix modes. FAT and exFAT
    (SD cards, USB drives) refuse a change to their fixed modes (EPERM) unless mounted ``quiet``,
    and SMB shares may: there the mount's own modes stand, and the output is written all the same."""
    try:
        os.fchmod(fd, NEW_FILE_MODE)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES):
            raise


def write_atomic(path: Path, text: str) -> None:
    write_atomic_bytes(path, text.encode("utf-8"))


def write_atomic_chunks(path: Path, chunks: Iterable[str]) -> None:
    """As ``write_atomic``, the text given in pieces: a large file is never whole in memory (an hour
    of a crowd's timeline is hundreds of megabytes as one string, and as many again as the objects
    it is made from)."""
    _write_replacing(path, (chunk.encode("utf-8") for chunk in chunks))


def write_atomic_bytes(path: Path, data: bytes) -> None:
    _write_replacing(path, (data,))


def _write_replacing(path: Path, pieces: Iterable[bytes]) -> None:
    """``pieces`` into a temporary file beside ``path``, synced, then renamed over it; on any failure
    the temporary file is removed and ``path`` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        _set_new_file_mode(fd)
        with os.fdopen(fd, "wb") as fh:
            for piece in pieces:
                fh.write(piece)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Indented for reading (the small files; the per-frame one is ``write_json_streamed``, compact:
    a third smaller, and written four times faster, as only unindented JSON goes through the json
    module's C encoder)."""
    # Names stay readable (会议.mp4, not \u4f1a\u8bae.mp4): the file is UTF-8, as JSON is.
    write_atomic(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def write_json_streamed(path: Path, head: dict[str, Any], key: str, items: Iterable[Any]) -> None:
    """Compact JSON of ``{**head, key: [*items]}``, byte for byte, the list written item by item."""

    def chunks() -> Iterator[str]:
        opening = _compact(head)[:-1]  # without its closing brace
        yield opening + ("," if head else "") + _compact(key) + ":["
        for number, item in enumerate(items):
            yield ("," if number else "") + _compact(item)
        yield "]}\n"

    write_atomic_chunks(path, chunks())


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


CSV_CHUNK_CHARS = 1 << 16


def write_csv(path: Path, header: Iterable[str], rows: Iterable[Iterable[object]]) -> None:
    def chunks() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            if buffer.tell() >= CSV_CHUNK_CHARS:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    write_atomic_chunks(path, chunks())
