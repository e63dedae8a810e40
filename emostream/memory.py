"""Frame-sized buffers stay in the process's heap instead of being mapped afresh for every frame.

glibc serves blocks over 128 KB (a 640x360 BGR frame is 691 KB) with mmap and unmaps them when
they are freed, so every decoded, resized or encoded frame faults its pages in again: a 640x360
JPEG decode took 0.94 ms, 0.35 of it in the kernel for 306 page faults, and 0.59 ms without them.
glibc raises that threshold by itself after some frees, but by accident of what else a process
allocates: a worker that stopped allocating one 1.3 MB buffer per frame doubled the pipeline's
kernel time. So every emostream process sets the thresholds once, at start.
"""

import ctypes
import logging

log = logging.getLogger(__name__)

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 16 << 20  # a 1280x720 frame is 2.8 MB, a 4K one 25 MB (still mapped)
TRIM_THRESHOLD_BYTES = 32 << 20  # free memory the heap keeps before returning it to the kernel


def keep_frame_buffers() -> bool:
    """Set glibc's thresholds; False where the C library is not glibc (nothing to tune)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):  # musl and others: no mallopt
        log.debug("no mallopt in this C library: frame buffers use its default allocation")
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
