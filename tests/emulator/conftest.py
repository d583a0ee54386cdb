from __future__ import annotations

import pytest

from noojee_django.emulator import ControlClient, EmulatorServer

from .helpers import Api


@pytest.fixture
def api(noojee_emulator: EmulatorServer) -> Api:
    """The PBX API of the shared emulator, with the global key."""
    return Api(noojee_emulator.url)


@pytest.fixture
def control(noojee_emulator_control: ControlClient) -> ControlClient:
    return noojee_emulator_control
