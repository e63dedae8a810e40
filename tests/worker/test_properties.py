"""Property-based: random bytes and random field sets never crash the decoder or the worker's batch."""

import functools
import json

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emostream.errors import MessageError
from emostream.schema import Fields, decode_frame
from models import load_classifier
from worker.batch import BatchProcessor
from worker.detectors.haar import HaarDetector

FIELD_NAMES = st.sampled_from([b"v", b"meta", b"jpeg", b"i420", b"extra", b""])
VALID_META: dict[str, object] = {
    "schema_version": 1,
    "video_id": "v",
    "frame_index": 1,
    "t_ms": 0,
    "captured_at": 0.0,
    "source_kind": "file",
}
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


@st.composite
def entries(draw: st.DrawFn) -> Fields:
    """Anything from pure noise to a nearly valid frame (JPEG or raw) with one field mutated."""
    if draw(st.booleans()):
        return draw(st.dictionaries(FIELD_NAMES, st.binary(max_size=64), max_size=4))
    if draw(st.booleans()):
        field = b"jpeg"
        picture = draw(st.binary(max_size=64) | st.just(bytes(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1])))
        meta = VALID_META | {"jpeg_size": len(picture) or 1}
    else:
        field = b"i420"
        width, height = draw(st.integers(-1, 9)), draw(st.integers(-1, 9))
        exact = bytes(max(width + width % 2, 0) * max(height + height % 2, 0) * 3 // 2)
        picture = draw(st.binary(max_size=64) | st.just(exact))
        meta = VALID_META | {"i420": {"width": width, "height": height}}
    key = draw(st.sampled_from([*VALID_META, "jpeg_size", "i420", "unknown"]))
    if draw(st.booleans()):
        meta.pop(key, None)
    else:
        meta[key] = draw(JSON_VALUES)
    version = draw(st.sampled_from([b"1", b"2", b"", b"\xff"]))
    return {b"v": version, b"meta": json.dumps(meta).encode(), field: picture}


@functools.cache
def processor() -> BatchProcessor:
    return BatchProcessor(HaarDetector(640), load_classifier(), "prop")


@given(entries())
@settings(max_examples=300, deadline=None)
def test_decoder_accepts_or_rejects_with_a_message_error(fields: Fields) -> None:
    try:
        frame = decode_frame(fields)
    except MessageError:
        return
    assert len(frame.payload) == frame.meta.payload_size


@given(st.lists(entries(), min_size=1, max_size=6))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_worker_batch_gives_exactly_one_outcome_per_entry_and_never_raises(batch: list[Fields]) -> None:
    ids = [f"{i}-0".encode() for i in range(len(batch))]
    outcomes = processor().process(list(zip(ids, batch, strict=True)))
    assert sorted(o.entry_id for o in outcomes) == sorted(ids)
    for outcome in outcomes:
        assert outcome.result is not None or outcome.dead_reason is not None
