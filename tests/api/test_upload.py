"""The streaming multipart parser: any chunking, limits, and nothing left behind on failure."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.ingest import read_options, safe_file_name
from api.upload import UploadError, UploadTooLargeError, receive_upload

BOUNDARY = "XyZ"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def body(video: bytes, **fields: str) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a b.mp4"\r\n'
    parts.append(head.encode() + b"Content-Type: video/mp4\r\n\r\n" + video + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def field(name: str, value: str) -> bytes:
    return f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def receive(data: bytes, target: Path, size: int = 7, max_bytes: int = 10**6, content_type: str = CONTENT_TYPE):  # type: ignore[no-untyped-def]
    return asyncio.run(receive_upload(content_type, chunks(data, size), target, max_bytes))


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_the_file_lands_on_disk_whole_and_the_fields_beside_it_whatever_the_chunking(
    tmp_path: Path, chunk: int
) -> None:
    video = bytes(range(256)) * 40 + b"\r\n--XyZ-not-the-end"
    received = receive(body(video, fps="5", render="true"), tmp_path / "up", size=chunk)
    assert (tmp_path / "up").read_bytes() == video
    assert (received.filename, received.size, received.fields) == (
        "a b.mp4",
        len(video),
        {"fps": "5", "render": "true"},
    )


def test_a_body_over_the_limit_stops_and_its_partial_file_is_removed(tmp_path: Path) -> None:
    with pytest.raises(UploadTooLargeError):
        receive(body(b"\1" * 5000), tmp_path / "up", size=1000, max_bytes=3000)
    assert not (tmp_path / "up").exists()


@pytest.mark.parametrize(
    ("data", "content_type", "reason"),
    [
        (b"", "application/json", "multipart/form-data"),
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="fps"\r\n\r\n5\r\n--{BOUNDARY}--\r\n'.encode(),
            CONTENT_TYPE,
            "no 'file'",
        ),
        (body(b"x", fps="1" * 2000), CONTENT_TYPE, "longer than"),
    ],
)
def test_a_body_that_is_not_a_usable_upload_is_refused_with_the_reason(
    tmp_path: Path, data: bytes, content_type: str, reason: str
) -> None:
    with pytest.raises(UploadError, match=reason):
        receive(data, tmp_path / "up", content_type=content_type)
    assert not (tmp_path / "up").exists()


def test_uploaded_names_lose_their_paths_and_odd_characters() -> None:
    assert safe_file_name("../../etc/passwd") == "passwd"
    assert safe_file_name("C:\\\\Users\\\\me\\\\clip;rm -rf.mp4") == "clip_rm -rf.mp4"
    assert safe_file_name("..") == "upload.mp4"
    assert safe_file_name("rtl\u202egnp.mp4") == "rtl_gnp.mp4"  # a right-to-left override is not a letter


def test_uploaded_names_keep_letters_of_any_script_and_their_suffix_within_the_length_limit() -> None:
    assert safe_file_name("会议 记录.mp4") == "会议 记录.mp4"
    assert safe_file_name("Re\u0301union.mov") == "R\u00e9union.mov"  # macOS's decomposed accent, composed
    long_name = safe_file_name("会" * 200 + ".mkv")
    assert long_name.endswith("会.mkv")
    assert len(long_name.encode()) <= 200


def test_options_are_typed_and_unknown_ones_refused() -> None:
    assert read_options({"fps": "2.5", "render": "true"}, "x.mp4").model_dump() == {
        "fps": 2.5, "every_frame": False, "max_frame_side": None, "render": True, "filename": "x.mp4",
    }  # fmt: skip
    assert read_options({"max_frame_side": "1920"}, "x.mp4").max_frame_side == 1920
    with pytest.raises(ValueError, match="extra"):
        read_options({"colour": "red"}, "x.mp4")
    with pytest.raises(ValueError, match="max_frame_side"):
        read_options({"max_frame_side": "10"}, "x.mp4")
