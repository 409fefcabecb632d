"""The URLs a customer puts into their player, built from the panel's public address."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from boxoffice.provisioning.models import Line


@dataclass(frozen=True)
class LineAccess:
    server_url: str  # scheme://host:port, what Xtream-codes apps ask for
    host: str
    port: int
    m3u_url: str
    epg_url: str
    player_api_url: str
    mag_portal_url: str


def line_access(line: Line) -> LineAccess:
    panel = line.panel
    base = panel.public_url.rstrip("/")
    parts = urlsplit(base)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    u, p = line.username, line.password
    creds = urlencode({"username": u, "password": p})
    if panel.m3u_style == panel.M3uStyle.PLAYLIST:
        m3u = f"{base}/playlist/{quote(u)}/{quote(p)}/m3u_plus?output=ts"
    else:
        m3u = f"{base}/get.php?{creds}&type=m3u_plus&output=ts"
    if panel.epg_style == panel.M3uStyle.PLAYLIST:
        epg = f"{base}/epg/{quote(u)}/{quote(p)}"
    else:
        epg = f"{base}/xmltv.php?{creds}"
    return LineAccess(
        server_url=base,
        host=parts.hostname or "",
        port=port,
        m3u_url=m3u,
        epg_url=epg,
        player_api_url=f"{base}/player_api.php?{creds}",
        mag_portal_url=f"{base}/c/",
    )
