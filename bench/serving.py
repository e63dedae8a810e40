"""Serving benchmark for the emotion model: faces per second at batch 1 and 32, start-up, memory.

    .venv/bin/python bench/serving.py [--model PATH ...] [--keras runs/vggbn/best.keras]
                                      [--seconds 5] [--threads 2] [--data ../shared/data/fer2013]

Each model is measured in a fresh process of its own (so start-up and peak memory
are its own): the committed fp32 and int8 artifacts on ONNX Runtime through
``models.load_classifier`` (what workers serve) and, with ``--keras``, the same
network in Keras (``predict_on_batch``) for the ratio. Faces are real 48x48 FER2013
PublicTest images with ``--data``, random pixels otherwise (speed does not
depend on content). Prints figures and ratios from one run; the machine is shared,
so compare ratios, not absolutes.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from common import cpu_description

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BATCHES = (1, 32)


def faces(count: int, data: str | None) -> Any:
    """PublicTest faces from ``--data``, or random pixels without it (speed does not depend on content)."""
    if data is None:
        return np.random.default_rng(0).integers(0, 256, size=(count, 48, 48), dtype=np.uint8)
    from models.training.data import load_fer2013

    return load_fer2013(Path(data)).val.x[:count]


def child(runtime: str, path: str, seconds: float, threads: int, data: str | None) -> dict[str, Any]:
    started = time.perf_counter()
    predict: Callable[[Any], Any]
    if runtime == "onnxruntime":
        from models.classifier import load_classifier

        classifier = load_classifier(Path(path), threads)
        predict = classifier.predict
    else:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import keras
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        model = keras.models.load_model(path, compile=False)
        from emostream.preprocess import prepare_faces

        def keras_predict(batch: Any) -> Any:
            return model.predict_on_batch(prepare_faces(batch, 48))

        predict = keras_predict

    pixels = faces(256, data)
    predict(pixels[:1])
    figures: dict[str, Any] = {"startup_s": round(time.perf_counter() - started, 2)}
    for batch in BATCHES:
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            start = done % (len(pixels) - batch)
            predict(pixels[start : start + batch])
            done += batch
        figures[f"faces_per_s_batch{batch}"] = round(done / (time.perf_counter() - t0))
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    artifacts = REPO / "models" / "artifacts"
    parser.add_argument(
        "--model", action="append", help="ONNX artifact (repeatable; default: emotion.onnx and emotion-int8.onnx)"
    )
    parser.add_argument("--keras", help="the same network as a .keras file, for the comparison")
    parser.add_argument("--seconds", type=float, default=5.0, help="per batch size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", help="FER2013 folder: time real PublicTest faces (default: random pixels)")
    parser.add_argument("--child", choices=["onnxruntime", "keras"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.path, args.seconds, args.threads, args.data)))
        return
    print(f"CPU: {cpu_description()}", flush=True)
    models = args.model or [str(artifacts / "emotion.onnx"), str(artifacts / "emotion-int8.onnx")]
    runs = [("onnxruntime", path) for path in models] + ([("keras", args.keras)] if args.keras else [])
    results = {}
    for runtime, path in runs:
        command = [sys.executable, __file__, "--child", runtime, "--path", path, "--seconds", str(args.seconds)]
        command += ["--threads", str(args.threads), *(["--data", args.data] if args.data else [])]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
        results[Path(path).name] = json.loads(out.strip().splitlines()[-1])
        print(f"{runtime:12s} {Path(path).name:22s} {results[Path(path).name]}")
    reference = results[Path(runs[-1][1]).name]
    for name, figures in list(results.items())[:-1]:
        ratios = ", ".join(
            f"{key}: {figures[key] / reference[key]:.1f}x" for key in ("faces_per_s_batch1", "faces_per_s_batch32")
        )
        print(f"{name} vs {Path(runs[-1][1]).name}: {ratios}")


if __name__ == "__main__":
    main()
