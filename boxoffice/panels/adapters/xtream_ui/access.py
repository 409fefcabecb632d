"""How a customer reaches an Xtream UI line: the same Xtream Codes client API as XUI One.

Xtream Codes 2.x / Xtream UI serve `get.php`, `xmltv.php`, `player_api.php` and the `/c/` MAG
portal natively (reference §3.1, §3.3; XUI later made get.php/xmltv.php optional), so the access
items are XUI One's with the classic `get.php` / `xmltv.php` URLs.
"""

from __future__ import annotations

from boxoffice.panels.adapters.base import LineAccess, LineFacts, PanelConfig
from boxoffice.panels.adapters.xui_one.access import xui_line_access


def xtream_line_access(config: PanelConfig, facts: LineFacts) -> LineAccess:
    # No m3u_style/epg_style settings on this kind: xui_line_access then builds get.php URLs.
    return xui_line_access(config, facts)
