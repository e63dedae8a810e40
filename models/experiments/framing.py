"""How the faces a detector boxes are framed for the network, and what the framing costs.

    python -m models framing --yunet face_detection_yunet_2023mar.onnx [--detector haar] [--enlarge 2] [--data DIR]

The network learnt FER2013's faces, each a square frame around a face; the workers classify what a
detector boxes in a video frame. Each FER2013 face is enlarged ``--enlarge`` times (bicubic) and set
in a border of its own mean gray, as a face in a frame is; the detector finds it there as a worker's
does (the worker's default settings), and the face is cut out of that picture. Prints one JSON object:

- ``geometry``: on ``--train-faces`` training faces, where the FER2013 square lies against the
  detector's box (its side per box width and per box height, its centre's offset in box sizes): what
  the detector's ``framing`` is set from;
- ``accuracy``: on every PublicTest face the detector finds, the served network's accuracy on the
  FER2013 face itself, on the box squeezed square (the workers' crop until 2026-12-07) and on the
  square the detector's ``framing`` gives (``emostream.preprocess.face_crop``, the workers' crop
  now), each with the faces only it or only the squeezed box gets right and McNemar's p.

The geometry is taken from training faces and the accuracies from PublicTest, so the framing is not
chosen on the faces that score it. The FER2013 face is the whole picture the detector sees: past
its frame there is gray, where a video frame has the rest of the head.
"""

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from emostream.preprocess import face_crop, to_gray
from emostream.settings import WorkerSettings
from models.classifier import DEFAULT_MODEL, load_classifier
from models.experiments.compare import paired_comparison
from models.training.data import Split, add_data_argument, load_fer2013
from worker.detectors import FaceDetector, HaarDetector, YuNetDetector
from worker.detectors.base import Detection

Crop = Callable[[npt.NDArray[np.uint8], tuple[int, int, int, int]], npt.NDArray[np.uint8]]


def staged(face: npt.NDArray[np.uint8], enlarge: int) -> npt.NDArray[np.uint8]:
    """A FER2013 face as a detector sees one in a frame: enlarged, in a gray border as wide as the face
    (BGR). A narrower one (half the face) put small faces' boxes at the picture's edge: at 48 px,
    YuNet found 591 of 4,000 training faces, with boxes unlike those it draws in a wider border."""
    side = face.shape[0] * enlarge
    large = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    picture = cv2.copyMakeBorder(large, *(side,) * 4, cv2.BORDER_CONSTANT, value=int(face.mean()))
    return np.asarray(cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


def central_face(detector: FaceDetector, picture: npt.NDArray[np.uint8]) -> Detection | None:
    """The face found nearest the picture's centre, if any."""
    centre = picture.shape[0] / 2
    return min(
        detector.detect(picture),
        key=lambda d: abs(d.box[0] + d.box[2] / 2 - centre) + abs(d.box[1] + d.box[3] / 2 - centre),
        default=None,
    )


def geometry(detector: FaceDetector, faces: npt.NDArray[np.uint8], enlarge: int) -> dict[str, Any]:
    """Where FER2013's square lies against the detector's boxes, medians over the faces it finds."""
    side = faces.shape[1] * enlarge
    rows = []
    for face in faces:
        found = central_face(detector, staged(face, enlarge))
        if found is not None:
            left, top, width, height = found.box
            rows.append((width, height, left + width / 2 - side, top + height / 2 - side))  # from the face's corner
    w, h, centre_x, centre_y = (np.array(column, dtype=np.float64) for column in zip(*rows, strict=True))
    return {
        "faces": len(faces),
        "found": len(rows),
        "square_side_per_box_width": round(float(np.median(side / w)), 3),
        "square_side_per_box_height": round(float(np.median(side / h)), 3),
        "box_height_per_width": round(float(np.median(h / w)), 3),
        "square_centre_right_of_box_centre_per_width": round(float(np.median((side / 2 - centre_x) / w)), 3),
        "square_centre_below_box_centre_per_height": round(float(np.median((side / 2 - centre_y) / h)), 3),
    }


def _box(picture: npt.NDArray[np.uint8], box: tuple[int, int, int, int]) -> npt.NDArray[np.uint8]:
    """The box as it is, in gray: squeezed square by the network's preprocessing."""
    x, y, w, h = box
    return to_gray(picture[y : y + h, x : x + w])


def crops(framing: float) -> dict[str, Crop]:
    return {
        "box squeezed square": _box,
        "framed square": lambda picture, box: face_crop(picture, box, framing),
    }


def accuracy(detector: FaceDetector, model: Path, split: Split, enlarge: int, threads: int) -> dict[str, Any]:
    """The network's accuracy on the faces the detector finds: as they are, and as each crop cuts them."""
    cutters = crops(detector.framing)
    cut: dict[str, list[npt.NDArray[np.uint8]]] = {name: [] for name in cutters}
    kept = []
    for index, face in enumerate(split.x):
        picture = staged(face, enlarge)
        found = central_face(detector, picture)
        if found is not None:
            kept.append(index)
            for name, crop in cutters.items():
                cut[name].append(crop(picture, found.box))
    classifier = load_classifier(model, threads)
    labels = split.y[kept].astype(np.int64)
    probs = {"FER2013 face itself": classifier.predict(split.x[kept])}
    probs |= {name: classifier.predict(faces) for name, faces in cut.items()}
    before = probs["box squeezed square"]
    return {
        "faces": len(split.x),
        "found": len(kept),
        **{name: _scored(labels, p, before) for name, p in probs.items()},
    }


def _scored(
    labels: npt.NDArray[np.int64], probs: npt.NDArray[np.float32], before: npt.NDArray[np.float32]
) -> dict[str, Any]:
    paired = paired_comparison(labels, probs, before)
    return {
        "accuracy_percent": round(100 * paired["accuracy_first"], 2),
        "right_only_here": paired["only_first_right"],
        "right_only_squeezed": paired["only_second_right"],
        "mcnemar_p": paired["mcnemar_p"],
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--yunet", type=Path, help="face_detection_yunet_2023mar.onnx (for --detector yunet)")
    parser.add_argument("--detector", choices=("yunet", "haar"), default="yunet")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="the emotion network (default: served)")
    parser.add_argument("--train-faces", type=int, default=4000, help="training faces the geometry is taken from")
    parser.add_argument("--enlarge", type=int, default=4, help="times a 48 px face is enlarged (4: 192 px)")
    parser.add_argument("--threads", type=int, default=2)
    add_data_argument(parser)


def run(args: argparse.Namespace) -> None:
    if args.detector == "yunet":
        if args.yunet is None:
            raise SystemExit("--yunet FILE is needed for the YuNet detector")
        settings = WorkerSettings()  # shrinks frames for detection as far as a worker does
        detector: FaceDetector = YuNetDetector(args.yunet, None, settings.detect_min_face_px, args.threads)
    else:
        detector = HaarDetector(max_side_px=10_000)  # the picture as it is: no shrinking
    data = load_fer2013(args.data)
    report = {
        "detector": detector.name,
        "framing": detector.framing,
        "enlarge": args.enlarge,
        "geometry": geometry(detector, data.train.x[: args.train_faces], args.enlarge),
        "accuracy": accuracy(detector, args.model, data.val, args.enlarge, args.threads),
    }
    print(json.dumps(report, indent=1), flush=True)
