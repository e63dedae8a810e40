import pytest

from emostream.redact import redact_text, redact_url
from emostream.settings import WorkerSettings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:s3cret@host:6379/0", "redis://***@host:6379/0"),
        ("redis://alice:s3cret@host/1", "redis://alice:***@host/1"),
        ("rediss://alice:s3cret@host:6380", "rediss://alice:***@host:6380"),
        ("rtsp://admin:s3cret@10.0.0.5:554/stream", "rtsp://admin:***@10.0.0.5:554/stream"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        (
            "rtmp://cam/bcs/channel0_main.bcs?channel=0&stream=0&user=admin&password=s3cret",
            "rtmp://cam/bcs/channel0_main.bcs?channel=0&stream=0&user=admin&password=***",
        ),
        (
            "http://cam:88/cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=admin&PWD=s3cret#x",
            "http://cam:88/cgi-bin/CGIStream.cgi?cmd=GetMJStream&usr=admin&PWD=***#x",
        ),
        ("https://cdn/live.m3u8?token=s3cret", "https://cdn/live.m3u8?token=***"),
        ("rtsp://admin:s3cret@cam/1?pwd=s3cret&subtype=1", "rtsp://admin:***@cam/1?pwd=***&subtype=1"),
        ("rtsp://cam/1?keyframes=1&passes=2", "rtsp://cam/1?keyframes=1&passes=2"),
    ],
)
def test_redact_url_hides_the_password_and_keeps_the_rest(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_hides_credentials_inside_messages_and_is_idempotent() -> None:
    text = (
        "Error connecting to redis://bob:s3cret@db:6379 (refused), then rtsp://tok3n@cam/1 and rtsp://c/2?password=x y"
    )
    redacted = redact_text(text)
    assert redacted == (
        "Error connecting to redis://bob:***@db:6379 (refused), then rtsp://***@cam/1 and rtsp://c/2?password=*** y"
    )
    assert redact_text(redacted) == redacted


def test_settings_repr_never_shows_the_redis_url() -> None:
    settings = WorkerSettings(redis_url="redis://:s3cret@host:6379/0")
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings)
    assert settings.redis_url_redacted == "redis://***@host:6379/0"
