"""API settings: tokens from the environment and a file; never shown."""

from pathlib import Path

from emostream.settings import ApiSettings


def test_tokens_come_from_the_variable_and_the_file_and_stay_out_of_repr(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# team keys\nfile-token-1\n\n  file-token-2  \n")
    settings = ApiSettings(tokens=" env-token , ", tokens_file=tokens)
    assert settings.token_set() == {"env-token", "file-token-1", "file-token-2"}
    assert "env-token" not in repr(settings)
    assert ApiSettings().token_set() == frozenset()


def test_uploads_wait_beside_the_outputs_unless_told_otherwise(tmp_path: Path) -> None:
    assert ApiSettings(out_dir=tmp_path).spool_dir == tmp_path.resolve() / ".uploads"
    assert ApiSettings(out_dir=tmp_path, uploads_dir=tmp_path / "u").spool_dir == tmp_path / "u"
    assert ApiSettings(max_upload_mb=1.5).max_upload_bytes == 1_572_864
