"""`python -m boxoffice.emulators.xui_one --port 8100`: the emulator without Django."""

from .server import main

main()
