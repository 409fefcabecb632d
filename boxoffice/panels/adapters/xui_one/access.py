"""How a customer reaches an XUI One line: Xtream Codes server, M3U, EPG, player API, MAG portal.

Built from the panel's public address (what players reach), never from the admin API's.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

from django.utils.translation import gettext_lazy as _

from boxoffice.panels.adapters.base import (
    AccessItem,
    AccessSection,
    LineAccess,
    LineFacts,
    PanelConfig,
)

GET_PHP = "get_php"
PLAYLIST = "playlist"
URL_STYLES = (
    (GET_PHP, "get.php?username=…&password=…"),
    (PLAYLIST, "/playlist/USER/PASS/m3u_plus"),
)

APP_STEPS = (
    _(
        'IPTV Smarters: choose "Login with Xtream Codes API" and enter the username, password '
        "and server URL above."
    ),
    _('TiviMate: Add playlist > "Xtream Codes", then enter the server URL, username and password.'),
    _("VLC: Media > Open Network Stream, paste the M3U playlist URL."),
)
MAG_STEPS = (
    _(
        'MAG box: Settings > Servers > Portals, set "Portal 1 URL" to the portal URL above, save '
        "and restart the box."
    ),
    _(
        "Formuler (MyTVOnline): Edit service > enter a name and the portal URL above as "
        '"Portal URL", then connect.'
    ),
)

MAG_HINT = _(
    "On your box, enter the portal URL under Settings → Servers → Portals; the box signs in "
    "with its MAC address."
)
APP_HINT = _(
    "In an Xtream-codes app enter the username, password and server URL; other apps take the "
    "M3U playlist link."
)


def xui_line_access(config: PanelConfig, facts: LineFacts) -> LineAccess:
    base = config.public_url.rstrip("/")
    parts = urlsplit(base)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    u, p = facts.username, facts.password
    creds = urlencode({"username": u, "password": p})
    settings = config.settings
    if settings.get("m3u_style") == PLAYLIST:
        m3u = f"{base}/playlist/{quote(u)}/{quote(p)}/m3u_plus?output=ts"
    else:
        m3u = f"{base}/get.php?{creds}&type=m3u_plus&output=ts"
    if settings.get("epg_style") == PLAYLIST:
        epg = f"{base}/epg/{quote(u)}/{quote(p)}"
    else:
        epg = f"{base}/xmltv.php?{creds}"
    is_mag = facts.device == "mag"
    sections = []
    if is_mag:
        sections.append(
            AccessSection(
                title=_("MAG / Formuler box"),
                intro=_(
                    "Your box signs in with its MAC address; enter this portal address on the box."
                ),
                items=(
                    AccessItem("mag_portal_url", _("Portal URL"), f"{base}/c/"),
                    AccessItem("mac_address", _("MAC address"), facts.mac),
                ),
            )
        )
    sections += [
        AccessSection(
            title=_("Xtream Codes API (IPTV apps)"),
            items=(
                AccessItem("server_url", _("Server URL"), base),
                AccessItem("port", _("Port"), str(port)),
                AccessItem("username", _("Username"), u),
                AccessItem("password", _("Password"), p, secret=True),
            ),
        ),
        AccessSection(
            title=_("Playlist and TV guide"),
            items=(
                AccessItem("m3u_url", _("M3U playlist"), m3u, secret=True),
                AccessItem("epg_url", _("EPG (TV guide)"), epg, secret=True),
            ),
        ),
    ]
    extras = (
        AccessItem(
            "player_api_url", _("Player API"), f"{base}/player_api.php?{creds}", secret=True
        ),
        AccessItem("host", _("Host"), parts.hostname or ""),
        *(() if is_mag else (AccessItem("mag_portal_url", _("MAG portal URL"), f"{base}/c/"),)),
    )
    return LineAccess(
        sections=tuple(sections),
        steps=(MAG_STEPS if is_mag else ()) + APP_STEPS,
        hint=MAG_HINT if is_mag else APP_HINT,
        extras=extras,
    )
