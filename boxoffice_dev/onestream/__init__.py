"""OneStream `/ext/` API emulator (see emulator.py; not a replay: nothing is recorded)."""

from .emulator import OneStreamEmulator

__all__ = ["OneStreamEmulator"]
