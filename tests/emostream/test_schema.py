import json

import pytest

from emostream.errors import MessageError, SchemaVersionError
from emostream.labels import EMOTIONS
from emostream.schema import (
    Face,
    Frame,
    FrameMeta,
    Result,
    decode_frame,
    decode_result,
    encode_frame,
    encode_result,
    frame_identity,
)


def make_frame(jpeg: bytes = b"\xff\xd8jpeg\xff\xd9", video_id: str = "clip-1", index: int = 3) -> Frame:
    meta = FrameMeta(
        video_id=video_id, frame_index=index, t_ms=100, captured_at=1.5, source_kind="file", jpeg_size=len(jpeg)
    )
    return Frame(meta=meta, jpeg=jpeg)


def make_result() -> Result:
    face = Face(box=(1, 2, 30, 40), score=0.9, probs=(0.1, 0.0, 0.1, 0.5, 0.1, 0.1, 0.1), emotion="happy")
    return Result(
        video_id="clip-1", frame_index=3, t_ms=100, captured_at=1.5, status="ok", faces=(face,),
        model_version="m1", detector="haar", worker="w1", timings_ms={"detect": 1.0},
    )  # fmt: skip


def test_frame_round_trip_keeps_every_field_and_the_raw_jpeg() -> None:
    frame = make_frame()
    fields = encode_frame(frame)
    assert fields[b"jpeg"] == frame.jpeg  # raw bytes, not base64 or pickle
    assert decode_frame(fields) == frame


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
