"""Browser session cookies: signed with a token, expiring, and ended by removing the token."""

from collections.abc import Callable

import pytest

from api import session

TOKENS = frozenset({"token-a", "token-b"})
DAY_S = 86400.0


def test_a_cookie_signed_with_any_configured_token_is_valid_until_it_expires() -> None:
    cookie = session.issue("token-b", now=1_000_000)
    assert session.valid(cookie, TOKENS, DAY_S, now=1_000_000 + DAY_S - 1)
    assert not session.valid(cookie, TOKENS, DAY_S, now=1_000_000 + DAY_S)


def test_removing_the_token_ends_its_sessions() -> None:
    cookie = session.issue("token-b", now=1_000_000)
    assert not session.valid(cookie, frozenset({"token-a"}), DAY_S, now=1_000_001)


def test_the_cookie_holds_no_token() -> None:
    assert "token" not in session.issue("token-a", now=1_000_000)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c.replace("1000000", "1000001", 1),  # issued later, to live longer
        lambda c: c[:-1] + ("0" if c[-1] != "0" else "1"),  # another signature
        lambda c: c.split(".")[0],  # no signature
        lambda c: "x" + c,  # not a time
        lambda c: "",
        lambda c: "9" * 40 + "." + c.split(".")[1],  # an absurd time
    ],
)
def test_an_altered_cookie_is_refused(tamper: Callable[[str], str]) -> None:
    cookie = session.issue("token-a", now=1_000_000)
    assert not session.valid(tamper(cookie), TOKENS, DAY_S, now=1_000_100)


def test_a_cookie_from_a_clock_a_little_ahead_is_taken_but_not_one_from_the_future() -> None:
    assert session.valid(session.issue("token-a", now=1_000_030), TOKENS, DAY_S, now=1_000_000)
    assert not session.valid(session.issue("token-a", now=1_100_000), TOKENS, DAY_S, now=1_000_000)
