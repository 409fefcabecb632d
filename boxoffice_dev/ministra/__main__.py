"""`python -m boxoffice_dev.ministra --port 9301`: the emulator without Django."""

from boxoffice_dev.panel_http import serve_main

from .emulator import MinistraEmulator

serve_main(MinistraEmulator, "Ministra / Stalker REST API v1 emulator")
