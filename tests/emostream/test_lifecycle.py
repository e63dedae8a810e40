"""The service loop: what a Redis reply makes it wait out, and what it lets end the service."""

from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from emostream.lifecycle import is_full, recoverable, run_loop
from emostream.localserver import LocalServer, free_port


@pytest.mark.parametrize(
    ("reply", "waited_out"),
    [
        ("MISCONF Errors writing to the AOF file: No space left on device", True),
        ("Command # 1 (XADD emo:results MAXLEN ~ 100000 * v 1) of pipeline caused error: MISCONF Errors writing", True),
        ("READONLY You can't write against a read only replica.", True),
        ("NOGROUP No such key 'emo:frames' or consumer group 'workers'", True),
        ("WRONGTYPE Operation against a key holding the wrong kind of value", False),
        ("ERR unknown command 'XAUTOCLAIM'", False),
    ],
)
def test_a_server_that_refuses_writes_for_now_is_waited_out_and_a_wrong_command_is_not(
    reply: str, waited_out: bool
) -> None:
    assert recoverable(redis.ResponseError(reply)) is waited_out


def _refusal(server: LocalServer, command: "Callable[[redis.Redis], object]", transaction: bool) -> redis.ResponseError:
    """The error redis-py raises for a real server's refusal, of a command alone or in a transaction."""
    client = redis.Redis.from_url(server.url)
    try:
        if transaction:
            with client.pipeline(transaction=True) as pipe:
                command(pipe)
                pipe.execute()
        else:
            command(client)
    except redis.ResponseError as exc:
        return exc
    finally:
        client.close()
    raise AssertionError("the server did not refuse")


def _write(client: "redis.Redis") -> object:
    return client.xadd("emo:frames", {"v": 1})


@pytest.mark.integration
@pytest.mark.parametrize("transaction", [False, True])
def test_the_refusals_a_real_server_sends_for_now_are_waited_out(redis_binary: Path, transaction: bool) -> None:
    """redis-py raises READONLY, MASTERDOWN and OOM as classes of their own, their code cut from the
    message: waited out all the same (a failover's replica, a replica cut off, a full server)."""
    gone = f"127.0.0.1 {free_port()}"  # a primary that is not there
    replica = ("--appendonly", "no", "--replicaof", gone)
    cut_off = (*replica, "--replica-serve-stale-data", "no")
    full = ("--appendonly", "no", "--maxmemory", "1")
    cases = [(replica, _write, False), (cut_off, lambda c: c.xlen("emo:frames"), False), (full, _write, True)]
    for args, command, fills in cases:
        with LocalServer(redis_binary, args) as server:
            exc = _refusal(server, command, transaction)
            assert recoverable(exc), repr(exc)
            assert is_full(exc) is fills
    with LocalServer(redis_binary) as server:
        redis.Redis.from_url(server.url).set("emo:frames", "a string")
        exc = _refusal(server, _write, transaction)  # WRONGTYPE: no wait will fix it
        assert not recoverable(exc)
        assert not is_full(exc)


def test_the_loop_recovers_after_a_disk_full_reply_and_goes_on() -> None:
    """Redis with a full disk refuses writes (MISCONF) until it can persist again: the service stays up."""
    replies = iter([redis.ResponseError("MISCONF Errors writing to the AOF file: No space left on device")])
    recovered, steps = [], []

    def step() -> bool:
        steps.append(1)
        if (error := next(replies, None)) is not None:
            raise error
        return len(steps) < 3

    run_loop(step, lambda: recovered.append(1), lambda: False, "test")
    assert (len(recovered), len(steps)) == (2, 3)  # recovered again after the refusal, then went on


def test_a_reply_that_no_wait_will_fix_ends_the_loop() -> None:
    def step() -> bool:
        raise redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")

    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        run_loop(step, lambda: None, lambda: False, "test")
