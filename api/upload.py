"""Receiving one multipart upload: streamed to a file as it arrives, never held whole in memory.

The body is cut off as soon as it passes the size limit (``UploadTooLargeError``), and whatever was
written is removed on any failure (too large, client gone, disk full, malformed body), so a
failed upload leaves nothing behind.
"""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

FIELD_MAX_BYTES = 1024  # the form's small fields (fps, every_frame, max_frame_side, render)


class UploadError(Exception):
    """The body is not a usable multipart upload."""


class UploadTooLargeError(UploadError):
    pass


@dataclass
class Received:
    path: Path | None = None  # the file field, on disk
    filename: str = ""
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)


class _Parts:
    """python-multipart callbacks: the ``file`` part goes to ``target``, small fields to memory."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.received = Received()
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._header_value = b""
        self._name = ""
        self._value = bytearray()
        self._file: IO[bytes] | None = None

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._add_field(data[start:end]),
            "on_header_value": lambda data, start, end: self._add_value(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._part_end,
        }

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _begin(self) -> None:
        self._headers, self._name, self._value = {}, "", bytearray()

    def _add_field(self, data: bytes) -> None:
        self._header_field += data

    def _add_value(self, data: bytes) -> None:
        self._header_value += data

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == "file":
            if self.received.path is not None:
                raise UploadError("more than one 'file' field")
            self.received.filename = options.get(b"filename", b"").decode("utf-8", "replace")
            self._file = self.target.open("wb")
            self.received.path = self.target

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(data[start:end])
            self.received.size += end - start
        else:
            self._value += data[start:end]
            if len(self._value) > FIELD_MAX_BYTES:
                raise UploadError(f"form field {self._name!r} is longer than {FIELD_MAX_BYTES} bytes")

    def _part_end(self) -> None:
        if self._file is not None:
            self.close()
        elif self._name:
            self.received.fields[self._name] = self._value.decode("utf-8", "replace")


async def receive_upload(content_type: str, body: AsyncIterator[bytes], target: Path, max_bytes: int) -> Received:
    """Parse the multipart ``body`` into ``target`` (the file field) and the small fields."""
    media, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        raise UploadError("send the video as multipart/form-data with a 'file' field")
    parts = _Parts(target)
    parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
    total = 0
    try:
        async for chunk in body:
            total += len(chunk)
            if total > max_bytes:
                raise UploadTooLargeError(f"the upload is larger than {max_bytes // (1024 * 1024)} MB")
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        parts.close()
        target.unlink(missing_ok=True)
        raise UploadError(f"malformed multipart body: {exc}") from None
    except BaseException:
        parts.close()
        with contextlib.suppress(OSError):
            target.unlink(missing_ok=True)
        raise
    parts.close()
    if parts.received.path is None:
        raise UploadError("the form has no 'file' field")
    return parts.received
