"""Settings reject what they do not know, naming the closest setting."""

import pytest
from pydantic import ValidationError

from emostream.settings import AggregatorSettings, WorkerSettings


def test_a_misspelt_variable_is_an_error_that_names_the_right_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMO_WORKER_BATCH_FRAMEZ", "3")
    with pytest.raises(
        ValidationError, match="unknown setting EMO_WORKER_BATCH_FRAMEZ; did you mean EMO_WORKER_BATCH_FRAMES"
    ):
        WorkerSettings()


def test_another_services_variables_are_not_this_ones_business(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMO_WORKER_BATCH_FRAMEZ", "3")  # only the worker reads EMO_WORKER_*
    monkeypatch.setenv("EMO_AGGREGATOR_STALL_TIMEOUT_S", "5")
    assert AggregatorSettings().stall_timeout_s == 5


def test_a_variable_far_from_any_setting_still_says_it_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMO_WORKER_ZZZ", "1")
    with pytest.raises(ValidationError, match="unknown setting EMO_WORKER_ZZZ"):
        WorkerSettings()


def test_a_setting_read_without_the_prefix_is_pointed_to_by_its_own_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMO_AGGREGATOR_RESULTS_TTL_S", "60")  # read as EMO_RESULTS_TTL_S
    with pytest.raises(ValidationError, match="did you mean EMO_RESULTS_TTL_S"):
        AggregatorSettings()
