"""Imported first by ``emostream analyze``'s fork server (``emostream.spawn``), before numpy loads.

OpenBLAS, loaded with numpy and SciPy, starts a thread per core at load unless told otherwise; a
process that forks must not have threads. The services never multiply matrices large enough to
want more than one (ONNX Runtime and OpenCV have thread pools of their own, started after the fork).
It also makes the fork server end when ``analyze`` does, however it ends (``emostream.orphans``).
"""

import os
import sys

if "numpy" not in sys.modules:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from emostream.orphans import stop_with_parent

stop_with_parent()  # the fork server ends with ``analyze``, and its services with it (emostream.orphans)
