"""An emulated Xtream Codes 2.x / Xtream UI panel (`api.php`), see server.py."""

from boxoffice_dev.xtream_ui.server import XtreamUiEmulator

__all__ = ["XtreamUiEmulator"]
