"""The service loop: what a Redis reply makes it wait out, and what it lets end the service."""

import pytest
import redis

from emostream.lifecycle import recoverable, run_loop


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
