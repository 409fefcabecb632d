"""`python -m boxoffice_dev.onestream --port 9302`: the emulator without Django."""

from boxoffice_dev.panel_http import serve_main

from .emulator import OneStreamEmulator

serve_main(OneStreamEmulator, "OneStream /ext/ API emulator")
