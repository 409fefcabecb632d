"""Ministra / Stalker portal REST API v1 emulator (see emulator.py)."""

from .emulator import MinistraEmulator

__all__ = ["MinistraEmulator"]
