"""A fake Noojee PBX for tests, benchmarks and the demo: the real HTTP protocol, its own state, scripted
scenarios and injectable faults. Standard library only; it imports neither Django nor the app's client."""

from .config import EmulatorConfig
from .control import ControlClient, ControlError
from .server import EmulatorServer

__all__ = ["ControlClient", "ControlError", "EmulatorConfig", "EmulatorServer"]
