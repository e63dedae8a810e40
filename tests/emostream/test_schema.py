import json

import pytest

from emostream.errors import MessageError, SchemaVersionError
from emostream.labels import EMOTIONS
from emostream.schema import (
    Face,
    Frame,
    FrameMeta,
    PictureSize,
    Result,
    decode_frame,
    decode_result,
    encode_frame,
    encode_result,
    frame_identity,
    frame_payload,
)


def make_frame(jpeg: bytes = b"\xff\xd8jpeg\xff\xd9", video_id: str = "clip-1", index: int = 3) -> Frame:
    meta = FrameMeta(
        video_id=video_id, frame_index=index, t_ms=100, captured_at=1.5, source_kind="file", jpeg_size=len(jpeg)
    )
    return Frame(meta=meta, payload=jpeg)


def make_result() -> Result:
    face = Face(box=(1, 2, 30, 40), score=0.9, probs=(0.1, 0.0, 0.1, 0.5, 0.1, 0.1, 0.1), emotion="happy")
    return Result(
        video_id="clip-1", frame_index=3, t_ms=100, captured_at=1.5, status="ok", faces=(face,),
        model_version="m1", detector="haar", worker="w1", timings_ms={"detect": 1.0},
    )  # fmt: skip


def test_frame_round_trip_keeps_every_field_and_the_raw_jpeg() -> None:
    frame = make_frame()
    fields = encode_frame(frame)
    assert fields[b"jpeg"] == frame.payload  # raw bytes, not base64 or pickle
    assert decode_frame(fields) == frame


def make_raw_frame(width: int = 5, height: int = 3) -> Frame:
    size = PictureSize(width=width, height=height)
    meta = FrameMeta(video_id="clip-1", frame_index=3, t_ms=100, captured_at=1.5, source_kind="file", i420=size)
    return Frame(meta=meta, payload=bytes(size.i420_bytes))


def test_a_raw_frame_travels_in_its_own_field() -> None:
    frame = make_raw_frame()
    fields = encode_frame(frame)
    assert set(fields) == {b"v", b"meta", b"i420"}
    assert len(fields[b"i420"]) == 6 * 4 * 3 // 2  # sides padded to even numbers
    assert decode_frame(fields) == frame
    assert frame_payload(fields) == (b"i420", fields[b"i420"])


def test_a_jpeg_frame_is_encoded_as_before_raw_frames_existed() -> None:
    """Workers of earlier releases (extra meta fields forbidden) keep reading JPEG frames."""
    meta = json.loads(encode_frame(make_frame())[b"meta"])
    assert set(meta) == {"schema_version", "video_id", "frame_index", "t_ms", "captured_at", "source_kind", "jpeg_size"}


@pytest.mark.parametrize("sizes", [{}, {"jpeg_size": 10, "i420": {"width": 2, "height": 2}}])
def test_a_frame_says_exactly_one_encoding(sizes: dict[str, object]) -> None:
    meta = json.loads(make_frame().meta.model_dump_json(exclude_none=True))
    del meta["jpeg_size"]
    with pytest.raises(MessageError, match="either jpeg_size or i420"):
        decode_frame({b"v": b"1", b"meta": json.dumps(meta | sizes).encode(), b"jpeg": b"x" * 10})


def test_raw_pixels_of_another_size_are_rejected() -> None:
    fields = encode_frame(make_raw_frame()) | {b"i420": b"short"}
    with pytest.raises(MessageError, match="i420 field has 5 bytes, meta says 36"):
        decode_frame(fields)


def test_result_round_trip() -> None:
    result = make_result()
    assert decode_result(encode_result(result)) == result


def test_other_schema_version_is_rejected_with_its_number() -> None:
    fields = encode_frame(make_frame()) | {b"v": b"2"}
    with pytest.raises(SchemaVersionError, match="'2'"):
        decode_frame(fields)


def test_missing_version_field_is_rejected() -> None:
    fields = encode_frame(make_frame())
    del fields[b"v"]
    with pytest.raises(MessageError, match="no schema version"):
        decode_frame(fields)


def test_missing_meta_field_is_rejected() -> None:
    with pytest.raises(MessageError, match="no 'meta'"):
        decode_frame({b"v": b"1", b"jpeg": b"x"})


@pytest.mark.parametrize("drop", ["video_id", "frame_index", "t_ms", "jpeg_size"])
def test_meta_without_a_required_field_is_rejected(drop: str) -> None:
    meta = json.loads(make_frame().meta.model_dump_json())
    del meta[drop]
    with pytest.raises(MessageError, match=drop):
        decode_frame({b"v": b"1", b"meta": json.dumps(meta).encode(), b"jpeg": b"\xff\xd8jpeg\xff\xd9"})


def test_unknown_meta_field_is_rejected() -> None:
    meta = json.loads(make_frame().meta.model_dump_json()) | {"extra": 1}
    with pytest.raises(MessageError, match="extra"):
        decode_frame({b"v": b"1", b"meta": json.dumps(meta).encode(), b"jpeg": b"\xff\xd8jpeg\xff\xd9"})


def test_jpeg_size_mismatch_is_rejected() -> None:
    fields = encode_frame(make_frame()) | {b"jpeg": b"short"}
    with pytest.raises(MessageError, match="5 bytes"):
        decode_frame(fields)


@pytest.mark.parametrize("video_id", ["", "a b", "{tag}", "x" * 200, "../etc"])
def test_video_ids_that_would_break_keys_or_paths_are_rejected(video_id: str) -> None:
    with pytest.raises(ValueError, match="video_id"):
        make_frame(video_id=video_id)


def test_face_probabilities_must_have_one_per_label() -> None:
    with pytest.raises(ValueError, match="probs"):
        Face(box=(0, 0, 1, 1), score=1.0, probs=(1.0,), emotion="happy")
    assert len(EMOTIONS) == 7


def test_identity_of_a_broken_frame_is_recovered_when_its_meta_names_it() -> None:
    fields = encode_frame(make_frame()) | {b"jpeg": b"garbage"}
    assert frame_identity(fields) == ("clip-1", 3)


@pytest.mark.parametrize("meta", [b"not json", b"{}", b'{"video_id": "a b", "frame_index": 1}', b"[1]"])
def test_identity_of_an_unattributable_entry_is_none(meta: bytes) -> None:
    assert frame_identity({b"v": b"1", b"meta": meta}) is None
