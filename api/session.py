"""Browser sessions: a signed, expiring cookie standing in for the bearer token.

A browser cannot add an ``Authorization`` header to a link, an ``<img>`` or a ``<video>``, so
someone signs in once with a token (``POST /session``) and gets a cookie instead. The cookie holds
no secret: only when it was issued and an HMAC of that time keyed with the token itself. Nothing
is stored on the server, any API replica can check it, and removing a token from the
configuration ends every session signed with it. Checked against every token, always, in
constant time, as the bearer header is.

Compared with itsdangerous's ``TimestampSigner`` (what Starlette's session middleware uses): it
needs one server secret to be configured and shared between replicas, and signing with that
secret would keep a removed token's sessions alive; ``hmac`` from the standard library keys the
signature with the token and needs nothing more.
"""

import hashlib
import hmac
import time

COOKIE = "emostream_session"
_PURPOSE = b"emostream-session/"
CLOCK_SKEW_S = 60  # a cookie issued by a replica whose clock runs a little ahead is still taken


def issue(token: str, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    return f"{issued}.{_signature(token.encode(), issued)}"


def valid(cookie: str, tokens: frozenset[str], lifetime_s: float, now: float | None = None) -> bool:
    """Signed with one of ``tokens``, and issued less than ``lifetime_s`` ago."""
    issued_text, _, given = cookie.partition(".")
    if not issued_text.isdigit() or len(issued_text) > 12:
        return False
    issued = int(issued_text)
    age = (time.time() if now is None else now) - issued
    if not -CLOCK_SKEW_S <= age < lifetime_s:
        return False
    # Every token, always: the time taken does not tell which one nearly matched.
    matches = [hmac.compare_digest(given.encode(), _signature(t.encode(), issued).encode()) for t in tokens]
    return any(matches)


def _signature(key: bytes, issued: int) -> str:
    return hmac.new(key, _PURPOSE + str(issued).encode(), hashlib.sha256).hexdigest()
