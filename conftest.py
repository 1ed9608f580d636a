"""Rules for every test folder (tests/, benchmarks/tests/): no skipped test counts as passed."""

from __future__ import annotations

import pytest

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and exitstatus == 0:
        print(f"\nERROR: {len(_skipped)} test(s) skipped; every test must run: {_skipped[:5]}")
        session.exitstatus = 1
