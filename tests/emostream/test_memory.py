import ctypes
import subprocess
import sys

import pytest

from emostream import memory

# A child process decodes one 640x360 JPEG many times and prints its page faults per decode.
DECODE_FAULTS = """
import resource, sys
import cv2, numpy as np
from emostream.memory import keep_frame_buffers
if sys.argv[1] == "kept":
    assert keep_frame_buffers()
frame = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
jpeg = cv2.imencode(".jpg", frame)[1]
for _ in range(20):
    cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):
    cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 200)
"""


def decode_faults(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", DECODE_FAULTS, mode], capture_output=True, text=True, check=True)
    return float(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator is what is tuned")
def test_decoded_frames_reuse_heap_memory_instead_of_faulting_it_in() -> None:
    default, kept = decode_faults("default"), decode_faults("kept")
    assert default > 100  # glibc's default: each decode maps and faults in its 691 KB again
    assert kept < 5


def test_it_reports_when_the_c_library_has_no_mallopt(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoMallopt:
        def __init__(self, _name: object) -> None: ...

    monkeypatch.setattr(ctypes, "CDLL", NoMallopt)
    assert memory.keep_frame_buffers() is False
