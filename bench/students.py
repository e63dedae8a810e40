"""Serving speed of emotion networks before training them: int8 ms a face by architecture.

    python bench/students.py [--arch vggbn-wide --arch vggbn-quarter ...] [--batch 40] [--keep DIR]
    python bench/as_avx2.py python bench/students.py ...   # the kernels of a CPU without VNNI

A network's speed does not depend on its weights, so an architecture can be measured before a GPU
lease trains it. Each named architecture (``models.training.architectures.all_architectures``) is
built with its initial weights, exported to ONNX and quantized as the served model is
(``models.training.quantize.quantize_graph``, calibrated on random faces), then run by ONNX
Runtime on one thread beside the served artifact, in alternate rounds, in a process without
TensorFlow. Prints the CPU, each network's multiply-adds, ms a face at batch 1 and at ``--batch``
(a worker's batch of 16 frames of the stage clip holds about 40 faces) and its speed against the
served artifact's. ``vggbn-wide``, the served architecture untrained, shows that the weights do
not matter: it runs at the served artifact's speed.

``--keep DIR`` keeps each int8 network with a metadata file naming it ``ARCH-untrained-int8``, for
``emostream analyze --model-path`` or ``bench/throughput.py --model-path``: the whole pipeline's
speed with that network (its emotions are meaningless; its faces and boxes are the detector's).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import cpu_description

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_ARCHITECTURES = ("vggbn-wide", "vggbn-quarter", "vggbn-narrow")
ROUNDS = 7
ROUND_SECONDS = 0.4
CALIBRATION_FACES = 200


def untrained_int8(arch: str, folder: Path) -> tuple[Path, int]:
    """``arch`` with its initial weights as the served int8 graph, with metadata; and its multiply-adds."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from emostream.labels import EMOTIONS
    from emostream.preprocess import FACE_SIZE_PX, prepare_faces
    from models.classifier import metadata_path, record_reference
    from models.training.architectures import all_architectures, multiply_adds
    from models.training.quantize import quantize_graph

    model = all_architectures()[arch]()
    model(np.zeros((1, FACE_SIZE_PX, FACE_SIZE_PX, 1), dtype=np.float32))  # build before export
    fp32, int8 = folder / f"{arch}-untrained.onnx", folder / f"{arch}-untrained-int8.onnx"
    model.export(str(fp32), format="onnx", verbose=False)
    faces = np.random.default_rng(0).integers(0, 256, (CALIBRATION_FACES, FACE_SIZE_PX, FACE_SIZE_PX), dtype=np.uint8)
    quantize_graph(fp32, int8, prepare_faces(faces, FACE_SIZE_PX))
    fp32.unlink()
    macs = multiply_adds(model)
    metadata = {
        "version": f"{arch}-untrained-int8",
        "untrained": "initial weights, for speed measurements only (bench/students.py): its emotions mean nothing",
        "labels": list(EMOTIONS),
        "input_size": FACE_SIZE_PX,
        "preprocessing": "gray-uint8/255",
        "format": "onnx",
        "architecture": arch,
        "multiply_adds": macs,
    }
    metadata_path(int8).write_text(json.dumps(metadata, indent=1) + "\n")
    record_reference(int8)  # so a worker's load-time check runs on it as on the served artifact
    return int8, macs


def time_networks(paths: list[Path], batch: int) -> dict[str, dict[int, float]]:
    """Median ms a face of each network, on one thread, at batch 1 and ``batch``, rounds alternating."""
    import onnxruntime as ort

    from emostream.preprocess import FACE_SIZE_PX

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    sessions = {str(p): ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]) for p in paths}
    rng = np.random.default_rng(1)
    inputs = {size: rng.random((size, FACE_SIZE_PX, FACE_SIZE_PX, 1), dtype=np.float32) for size in (1, batch)}
    times: dict[str, dict[int, list[float]]] = {name: {size: [] for size in inputs} for name in sessions}
    for _ in range(ROUNDS):
        for name, session in sessions.items():
            feed_name = session.get_inputs()[0].name
            for size, faces in inputs.items():
                session.run(None, {feed_name: faces})  # warm
                started, calls = time.perf_counter(), 0
                while time.perf_counter() - started < ROUND_SECONDS:
                    session.run(None, {feed_name: faces})
                    calls += 1
                times[name][size].append((time.perf_counter() - started) / calls / size * 1000)
    return {name: {size: statistics.median(ms) for size, ms in by_size.items()} for name, by_size in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", action="append", help=f"an architecture name (default: {DEFAULT_ARCHITECTURES})")
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--keep", type=Path, help="folder to keep the untrained int8 networks in")
    parser.add_argument("--time", nargs="+", type=Path, help=argparse.SUPPRESS)  # the child process's job
    args = parser.parse_args()
    if args.time:
        print(json.dumps(time_networks(args.time, args.batch)))
        return
    from models.classifier import DEFAULT_MODEL, metadata_path

    print(cpu_description(), flush=True)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="emo-students-"))
    folder.mkdir(parents=True, exist_ok=True)
    built = {arch: untrained_int8(arch, folder) for arch in args.arch or DEFAULT_ARCHITECTURES}
    paths = [DEFAULT_MODEL, *(path for path, _ in built.values())]
    child = [sys.executable, __file__, "--batch", str(args.batch), "--time", *map(str, paths)]
    measured = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    served = measured[str(DEFAULT_MODEL)]
    print(f"| network | multiply-adds | ms a face, batch 1 | batch {args.batch} | faces/s against the served |")
    print("| --- | --- | --- | --- | --- |")
    served_macs = int(json.loads(metadata_path(DEFAULT_MODEL).read_text())["multiply_adds"])
    rows = [("served artifact (`emotion-int8.onnx`)", served_macs, served)]
    rows += [(f"`{arch}`, untrained", macs, measured[str(path)]) for arch, (path, macs) in built.items()]
    batch = str(args.batch)
    for name, macs, ms in rows:
        print(f"| {name} | {macs / 1e6:.1f} M | {ms['1']:.3f} | {ms[batch]:.3f} | {served[batch] / ms[batch]:.2f}x |")
    if args.keep:
        print(f"kept in {folder}: emostream analyze VIDEO --model-path {folder}/ARCH-untrained-int8.onnx")


if __name__ == "__main__":
    main()
