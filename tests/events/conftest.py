"""Fixtures of the event and webhook tests: real receivers on local ports."""

from __future__ import annotations

import pytest

from tests.events.receivers import Receiver


@pytest.fixture
def receivers():
    """``receivers(*answers)`` starts a receiver; all stop after the test."""
    started: list[Receiver] = []

    def start(*answers, **kwargs) -> Receiver:
        receiver = Receiver(*answers, **kwargs)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.close()
