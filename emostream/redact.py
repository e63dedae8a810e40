"""Credential redaction for URLs: passwords never reach logs, errors, reprs or metrics."""

import re
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^@/\s]*)@")


def redact_url(url: str) -> str:
    """``redis://user:secret@host:6379/0`` -> ``redis://user:***@host:6379/0``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.password is None and not (parts.username and "@" in parts.netloc):
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username if parts.password is not None else None
    userinfo = f"{user}:{REDACTED}" if user else REDACTED
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def redact_text(text: str) -> str:
    """Redact the user-info part of every URL inside free text (exception messages)."""
    return _USERINFO.sub(_redact_userinfo, text)


def _redact_userinfo(match: re.Match[str]) -> str:
    user, colon, _ = match["userinfo"].partition(":")
    return f"{match['scheme']}{user}:{REDACTED}@" if colon else f"{match['scheme']}{REDACTED}@"
