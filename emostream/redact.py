"""Credential redaction for URLs: passwords never reach logs, errors, reprs or metrics.

Two places hold them: the user-info (``rtsp://admin:secret@cam/1``) and, for cameras that take
them so (Reolink's ``...&user=admin&password=secret``, Foscam's ``&usr=admin&pwd=secret``, signed
cloud streams' ``?token=`` and ``X-Amz-Signature=``), query parameters with such names.
"""

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^@/\s]*)@")
_SECRET_PARAMETERS = (
    "password", "passwd", "pass", "pwd", "pw", "secret", "token", "access_token", "auth", "key", "api_key",
    "apikey", "sig", "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
    "x-goog-credential",
)  # fmt: skip
_SECRET_QUERY = re.compile(
    rf"(?P<name>[?&;](?:{'|'.join(map(re.escape, _SECRET_PARAMETERS))})=)[^&#;\s]*", re.IGNORECASE
)


def redact_url(url: str) -> str:
    """``redis://user:secret@host:6379/0`` -> ``redis://user:***@host:6379/0``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.password is None and not (parts.username and "@" in parts.netloc):
        return _redact_query(url)
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username if parts.password is not None else None
    userinfo = f"{user}:{REDACTED}" if user else REDACTED
    return _redact_query(urlunsplit(parts._replace(netloc=f"{userinfo}@{host}")))


def redact_text(text: str) -> str:
    """Redact the credentials of every URL inside free text (exception messages)."""
    return _redact_query(_USERINFO.sub(_redact_userinfo, text))


def _redact_query(text: str) -> str:
    return _SECRET_QUERY.sub(rf"\g<name>{REDACTED}", text)


def _redact_userinfo(match: re.Match[str]) -> str:
    user, colon, _ = match["userinfo"].partition(":")
    return f"{match['scheme']}{user}:{REDACTED}@" if colon else f"{match['scheme']}{REDACTED}@"
