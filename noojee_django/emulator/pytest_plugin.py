"""pytest fixtures for the emulator, installed as the ``noojee_emulator`` plugin (entry point ``pytest11``).

- ``noojee_emulator_session``: one emulator for the whole run, on a free loopback port, with fast timings.
- ``noojee_emulator``: the same server, reset (state, faults, counters and configuration) before each test.
- ``noojee_emulator_control``: a :class:`ControlClient` for it.
- ``noojee_emulator_factory``: starts extra emulators with their own configuration, stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .config import EmulatorConfig
from .control import ControlClient
from .server import EmulatorServer

TEST_API_KEY = "test-global-key-0000"
TEST_USER_KEY = "test-user-key-0000"
TEST_USER_LOGIN = "agent1"
TEST_CAMPAIGN = "campaign-a"
#: A second tenant: another user, whose teams are in another campaign.
TEST_OTHER_USER_KEY = "test-user-key-0001"
TEST_OTHER_USER_LOGIN = "agent2"
TEST_OTHER_CAMPAIGN = "campaign-b"


def fixture_config(**overrides: Any) -> EmulatorConfig:
    """The fixtures' configuration: the test keys, and timings short enough for a test suite."""
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "api_key": TEST_API_KEY,
        "user_keys": {
            TEST_USER_KEY: {"login": TEST_USER_LOGIN, "campaigns": [TEST_CAMPAIGN]},
            TEST_OTHER_USER_KEY: {"login": TEST_OTHER_USER_LOGIN, "campaigns": [TEST_OTHER_CAMPAIGN]},
        },
        "answer_delay": 0.05,
        "far_end_answer_delay": 0.05,
        "hangup_settle": 0.0,
        "min_poll_interval": 0.02,
        "subscribe_default_timeout": 10.0,
    }
    settings.update(overrides)
    return EmulatorConfig(**settings)


@pytest.fixture(scope="session")
def noojee_emulator_session() -> Iterator[EmulatorServer]:
    with EmulatorServer(fixture_config()) as emulator:
        yield emulator


@pytest.fixture
def noojee_emulator(noojee_emulator_session: EmulatorServer) -> EmulatorServer:
    ControlClient(noojee_emulator_session.url).reset(config=True)
    return noojee_emulator_session


@pytest.fixture
def noojee_emulator_control(noojee_emulator: EmulatorServer) -> ControlClient:
    return ControlClient(noojee_emulator.url)


@pytest.fixture
def noojee_emulator_factory() -> Iterator[Callable[..., EmulatorServer]]:
    started: list[EmulatorServer] = []

    def make(**overrides: Any) -> EmulatorServer:
        emulator = EmulatorServer(fixture_config(**overrides)).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()
