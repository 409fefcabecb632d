"""XUI.one panel emulator: a real HTTP server with the panel's quirks (see server.py)."""

from .server import FAULT_MODES, XuiOneEmulator

__all__ = ["FAULT_MODES", "XuiOneEmulator"]
