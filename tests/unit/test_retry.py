"""The cleanup's one retry loop (cleanup/_retry.py): what fails for a while is tried again,
what the library refused is not."""

from __future__ import annotations

from typing import Any

from wandb_cassettes.cleanup import run_deletions
from wandb_cassettes.errors import JournalError


class _Resource:
    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.tries = 0

    def describe(self) -> str:
        return "run e/p/r"

    def delete(self, api: Any, *, fresh: bool) -> bool:
        self.tries += 1
        if self.errors:
            raise self.errors.pop(0)
        return True


def test_a_failure_that_may_pass_is_tried_again():
    flaky = _Resource(ConnectionError("reset"), ConnectionError("reset"))
    report = run_deletions([flaky], lambda: object(), attempts=3, backoff=0)
    assert flaky.tries == 3 and report.deleted == ["run e/p/r"] and report.failed == []


def test_a_refusal_of_the_library_is_not_tried_again():
    # A sweep of a journal whose restore names no restorable mutation ("no restore sends
    # 'deleteRun'") was tried three times, with backoff, and logged as a failed delete.
    refused = _Resource(JournalError("no restore sends 'deleteRun'"))
    report = run_deletions([refused], lambda: object(), attempts=3, backoff=0)
    assert refused.tries == 1
    assert [f.attempts for f in report.failed] == [1]
