"""An emulated NXT panel's web forms (no API exists), see server.py."""

from boxoffice_dev.nxt.server import NxtEmulator

__all__ = ["NxtEmulator"]
