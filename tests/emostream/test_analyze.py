"""What `emostream analyze` prints when a service dies: the service's own last statement."""

from pathlib import Path

from emostream.analyze import _last_line


def test_the_last_line_of_a_traceback_is_its_exception_not_its_indented_detail(tmp_path: Path) -> None:
    log = tmp_path / "worker-1.log"
    log.write_text(
        "Traceback (most recent call last):\n"
        '  File "worker/detectors/yunet.py", line 41, in __init__\n'
        "    self._net = cv2.FaceDetectorYN.create(...)\n"
        "cv2.error: OpenCV(4.14.0) onnx_importer.cpp:1064: error: (-2:Unspecified error) in function 'handleNode'\n"
        "> Node [Shape@ai.onnx]:(onnx_node!Shape_104) parse error\n"
        "> \n"
    )
    assert _last_line(log).startswith("cv2.error: OpenCV(4.14.0)")


def test_a_clear_error_is_printed_as_it_is(tmp_path: Path) -> None:
    log = tmp_path / "worker-1.log"
    log.write_text("2026-12-01 04:00:00 INFO starting\nemostream: model.onnx computes other probabilities\n")
    assert _last_line(log) == "emostream: model.onnx computes other probabilities"


def test_a_missing_or_empty_log_says_so(tmp_path: Path) -> None:
    assert _last_line(tmp_path / "absent.log") == "no log"
    (tmp_path / "empty.log").write_text("\n")
    assert _last_line(tmp_path / "empty.log") == "nothing logged"
