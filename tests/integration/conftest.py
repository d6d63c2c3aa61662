"""Fixtures: daemons started per test (`broker_factory`, `broker`) or per module
(`module_broker_factory`). Every daemon is stopped with SIGTERM at teardown and must exit 0
within 10 s; a crash or a non-zero exit fails the test that owned it."""

import itertools
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from broker_harness import Broker  # noqa: E402

_counter = itertools.count()


class _Factory:
    def __init__(self, tmp_dir):
        self._tmp = tmp_dir
        self.started: list[Broker] = []

    def __call__(self, overrides: dict | None = None, start: bool = True) -> Broker:
        b = Broker(self._tmp / f"broker{next(_counter)}", overrides)
        self.started.append(b)
        return b.start() if start else b

    def stop_all(self):
        errors = []
        for b in self.started:
            try:
                b.stop_and_check()
            except AssertionError as e:
                errors.append(str(e))
        assert not errors, "\n\n".join(errors)


@pytest.fixture
def broker_factory(tmp_path):
    """Call with config overrides (merged into the test defaults) to start a daemon."""
    factory = _Factory(tmp_path)
    yield factory
    factory.stop_all()


@pytest.fixture
def broker(broker_factory):
    """A daemon with the test defaults, private to one test."""
    return broker_factory()


@pytest.fixture(scope="module")
def module_broker_factory(tmp_path_factory):
    """Like broker_factory, but the daemons live for the whole module."""
    factory = _Factory(tmp_path_factory.mktemp("module"))
    yield factory
    factory.stop_all()
