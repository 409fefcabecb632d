"""`python -m boxoffice_dev.xui_one --port 8100`: the emulator without Django."""

from .server import main

main()
