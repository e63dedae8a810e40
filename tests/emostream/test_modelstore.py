"""Fetching YuNet: once, into the cache, hash checked; a clear error when it cannot be had."""

import functools
import hashlib
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from emostream.errors import ConfigError
from emostream.modelstore import YUNET_FILE, YUNET_SHA256, ModelStore, find_yunet
from tests.conftest import UNREACHABLE_URL, YUNET, require_shared


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str, list[str]]]:
    """A loopback HTTP server over a folder; yields the folder, the file's URL and the paths requested."""
    folder, requests = tmp_path / "www", []
    folder.mkdir()

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            requests.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_port}/{YUNET_FILE}", requests
    server.shutdown()


def test_yunet_is_downloaded_once_into_the_cache_and_then_reused(
    tmp_path: Path, served: tuple[Path, str, list[str]]
) -> None:
    www, url, requests = served
    (www / YUNET_FILE).write_bytes(require_shared(YUNET).read_bytes())
    store = ModelStore.default(tmp_path / "cache", url)
    path = find_yunet(None, store)
    assert path == tmp_path / "cache" / YUNET_FILE
    assert hashlib.sha256(path.read_bytes()).hexdigest() == YUNET_SHA256
    assert find_yunet(None, store) == path
    assert len(requests) == 1  # the second call used the cache


def test_a_file_with_another_hash_is_refused_and_not_kept(tmp_path: Path, served: tuple[Path, str, list[str]]) -> None:
    www, url, _ = served
    (www / YUNET_FILE).write_bytes(b"not the model")
    with pytest.raises(ConfigError, match="SHA-256 is not the pinned one"):
        find_yunet(None, ModelStore.default(tmp_path / "cache", url))
    assert not (tmp_path / "cache" / YUNET_FILE).exists()


def test_without_a_network_the_error_says_where_it_tried(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("127.0.0.1:9")):
        find_yunet(None, ModelStore.default(tmp_path, UNREACHABLE_URL))


def test_a_given_file_wins_over_the_cache(tmp_path: Path) -> None:
    given = tmp_path / "mine.onnx"
    assert find_yunet(given, ModelStore.default(tmp_path / "empty", UNREACHABLE_URL)) == given


def test_models_fetch_downloads_yunet_and_derives_its_any_size_copy_ahead_of_time(
    tmp_path: Path,
    served: tuple[Path, str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from emostream.cli import main

    www, url, _ = served
    (www / YUNET_FILE).write_bytes(require_shared(YUNET).read_bytes())
    monkeypatch.setenv("EMO_WORKER_YUNET_URL", url)
    assert main(["models", "fetch", "--dir", str(tmp_path / "cache")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "cache" / YUNET_FILE)
    assert len(list((tmp_path / "cache").glob("yunet-2023mar-*-any-size.onnx"))) == 1
