"""What long work calls now and then to say "still here" (``aggregator.keepalive``): a pulse."""

from collections.abc import Callable

Pulse = Callable[[], None]


def no_pulse() -> None:
    """For work that nobody watches (tests, benchmarks)."""
