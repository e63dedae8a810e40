"""Faces near the smallest the workers find, in frames the producer downscaled: where a video or a
camera has many, it very likely has smaller ones that were missed, and larger frames would find
them (``EMO_PRODUCER_MAX_FRAME_SIDE_PX``; docs/configuration.md, "Small faces in HD and 4K video").

Workers find faces down to 24 px of the frame as sent (YuNet's 15 px at the detection scale that
``EMO_WORKER_DETECT_MIN_FACE_PX`` sets). On the stage clip tiled to 1080p and sent at 1280x720, 18 %
of the faces found were under 30 px and a quarter of its faces were missed; at the clip's own size,
where nothing is downscaled, 9 % were (``bench/small_faces.py``)."""

SMALL_FACE_PX = 30  # as sent
SMALL_FACES_SHARE = 0.10
SMALL_FACES_MIN = 10  # a few stray small faces are not a distribution


def is_small(face_width_px: int) -> bool:
    return face_width_px < SMALL_FACE_PX


def sent_size(width: int, height: int, frame_side_px: int) -> tuple[int, int]:
    """The size frames of ``width`` x ``height`` are sent at (``frame_side_px``: the producer's cap; 0: none).
    ``emostream.hdr.shrunk_size``'s arithmetic, without importing it: that module loads numpy, and
    this one is read by ``emostream status`` and the API's pages, which load neither numpy nor OpenCV."""
    longest = max(width, height)
    if frame_side_px <= 0 or longest <= frame_side_px:
        return width, height
    return round(width * frame_side_px / longest), round(height * frame_side_px / longest)


def small_faces_advice(picture: tuple[int, int], frame_side_px: int, small: int, faces: int, *, how: str) -> str | None:
    """What to do where pictures of ``picture`` (width, height) were sent smaller and ``small`` of
    the ``faces`` found were near the smallest found; ``how`` names the setting (with ``{side}``, the
    picture's longest side, to fill in). None where it does not apply."""
    width, height = picture
    sent = sent_size(width, height, frame_side_px)
    if sent == (width, height) or small < max(SMALL_FACES_MIN, SMALL_FACES_SHARE * faces):
        return None
    return (
        f"{small / faces:.0%} of the faces found were under {SMALL_FACE_PX} px wide in frames downscaled "
        f"from {width}x{height} to {sent[0]}x{sent[1]}, so smaller ones were likely missed: "
        f"{how.format(side=max(width, height))} looks for them in full-size frames, at more CPU"
    )
