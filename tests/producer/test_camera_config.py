"""Camera configuration: TOML files, validation errors that never show a password."""

from pathlib import Path

import pytest

from emostream.errors import ConfigError
from producer.camera import CameraConfig, load_cameras


def test_config_file_with_defaults_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "cameras.toml"
    path.write_text(
        '[[cameras]]\ncamera_id = "a"\nurl = "rtsp://u:pw@10.0.0.1/s"\nfps = 2\n\n'
        '[[cameras]]\ncamera_id = "b"\nurl = "0"\n\n[[cameras]]\ncamera_id = "c"\nurl = "http://x/y.mjpg"\n'
    )
    a, b, c = load_cameras(path)
    assert (a.fps, a.transport, a.source_kind, a.url_redacted) == (2, "tcp", "rtsp", "rtsp://u:***@10.0.0.1/s")
    assert b.source_kind == "device"
    assert c.source_kind == "url"
    assert "pw" not in repr(a)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[cameras]]\ncamera_id = "a"\nurl = "rtsp://u:pw@h/s"\nfps = 0\n', "invalid camera config"),
        (
            '[[cameras]]\ncamera_id = "a"\nurl = "rtsp://h/1"\n[[cameras]]\ncamera_id = "a"\nurl = "rtsp://h/2"\n',
            "unique",
        ),
        ('[[cameras]]\ncamera_id = "bad id!"\nurl = "rtsp://h/1"\n', "invalid camera config"),
        ("cameras = [", "invalid camera config"),
        ("", "invalid camera config"),
    ],
)
def test_bad_config_files_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cameras.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as error:
        load_cameras(path)
    assert "pw" not in str(error.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read camera config"):
        load_cameras(tmp_path / "nope.toml")


def test_camera_ids_follow_the_video_id_rules() -> None:
    with pytest.raises(ValueError, match="camera_id"):
        CameraConfig(camera_id="../etc", url="rtsp://h/s")
