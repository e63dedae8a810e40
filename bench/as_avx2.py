"""Run a command as on a CPU without AVX-512: AVX-512, VNNI and AMX hidden from CPUID.

    python bench/as_avx2.py python bench/throughput.py --videos ../shared/data/videos --yunet FILE

Speed on CPUs without AVX-512 VNNI differs by several times for int8 networks, and this project's
machines vary. Here the command and every process it starts see this CPU without AVX-512 (any),
AVX-VNNI or AMX, so ONNX Runtime, OpenCV, numpy and TensorFlow run the code paths they choose on
an AVX2-only CPU (``bench/cpuid_mask.c``, compiled here with gcc, loaded with ``LD_PRELOAD``;
glibc's own string functions are told the same through ``GLIBC_TUNABLES``). It is this machine's
cores running AVX2 code, not another CPU: clock speeds, caches and memory stay this machine's.
Needs Linux on x86-64 with the ``cpuid_fault`` CPU flag (Intel since Ivy Bridge, where the
hypervisor passes it on) and gcc. ``common.cpu_description`` says when a benchmark ran so, and
checks that the features are hidden. A program that installs its own SIGSEGV handler after
start (Python's ``faulthandler``, so pytest) takes CPUID's fault for a crash: benchmarks only.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SHIM = Path(__file__).resolve().parent / "cpuid_mask.c"
MARKER = "EMO_BENCH_AS_AVX2"  # set for the command: common.cpu_description reports it
GLIBC_HIDDEN = ("AVX512F", "AVX512CD", "AVX512BW", "AVX512DQ", "AVX512VL", "AVX512ER", "AVX512PF")


def build_shim(folder: Path) -> Path:
    compiler = shutil.which("gcc")
    if compiler is None:
        raise SystemExit("gcc is needed to build bench/cpuid_mask.c (apt-get install gcc)")
    library = folder / "cpuid_mask.so"
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(library), str(SHIM)], check=True)
    return library


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    if "cpuid_fault" not in Path("/proc/cpuinfo").read_text().split():
        raise SystemExit("this CPU (or its hypervisor) cannot make CPUID fault: no cpuid_fault flag")
    library = build_shim(Path(tempfile.mkdtemp(prefix="emo-as-avx2-")))
    tunables = "glibc.cpu.hwcaps=" + ",".join(f"-{name}" for name in GLIBC_HIDDEN)
    env = {**os.environ, "LD_PRELOAD": str(library), "GLIBC_TUNABLES": tunables, MARKER: "1"}
    os.execvpe(sys.argv[1], sys.argv[1:], env)  # noqa: S606 (the user's command, as given)


if __name__ == "__main__":
    main()
