"""Shared fixtures, a guard against leaked processes, and the no-skips-under-CI rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from castui.history import EventStore
from castui.lab.certs import LabCA
from tests.support.procs import under_ci
from tests.support.ui_estate import Driver, new_driver, steady

_skipped: list[str] = []


@pytest.fixture(scope="session")
def lab_ca() -> LabCA:
    """One CA for the whole run: issuing is cheap, creating a CA key is not free."""
    return LabCA()


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Driver]:
    """The console tests' steady estate: four minutes of history before the console starts,
    on a history of its own (a test file needing another estate defines its own `driver`)."""
    with EventStore(tmp_path / "history.sqlite3") as store:
        driver = new_driver(store)
        steady(driver)
        yield driver


@pytest.fixture
def ca_file(lab_ca: LabCA, tmp_path: Path) -> Path:
    """The lab CA written where a config's `ca_file` can point at it."""
    return lab_ca.write_ca(tmp_path / "lab-ca.pem")


@pytest.fixture(autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """Fail a test that leaves a child process running (and kill the leftovers)."""
    me = psutil.Process()
    before = {child.pid for child in me.children(recursive=True)}
    yield
    leaked = []
    for child in me.children(recursive=True):
        if child.pid in before:
            continue
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            leaked.append(f"{child.pid} {' '.join(child.cmdline())}")
            child.kill()
        except psutil.NoSuchProcess:
            continue
    if leaked:
        pytest.fail("test left processes running: " + "; ".join(leaked), pytrace=False)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI=true a skipped test is a failed run: integration tests must really run."""
    if under_ci() and _skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if under_ci() and _skipped:
        terminalreporter.write_line(
            "integration tests were skipped under CI=true: " + ", ".join(_skipped), red=True)
