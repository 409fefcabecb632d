"""Keep an emulator's command in the foreground until Ctrl-C or SIGTERM, then stop it cleanly."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable


def serve_until_stopped(stop: Callable[[], None]) -> None:
    stopping = threading.Event()
    # `boxoffice run` stops its children with SIGTERM: finish cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stop()
