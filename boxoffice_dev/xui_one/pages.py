"""Static-ish bodies the emulated XUI serves: nginx error pages, playlists, XMLTV, the MAG portal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

# XUI answers player_api/get.php failures with a *fake* nginx 404 page (generateError), and nginx
# itself produces the 403 (access-code IP whitelist) and 503 (limit_req) pages.
_NGINX_PAGE = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
REASONS = {
    301: "Moved Permanently",
    403: "Forbidden",
    404: "Not Found",
    405: "Not Allowed",
    500: "Internal Server Error",
    503: "Service Temporarily Unavailable",
}


def nginx_page(code: int) -> bytes:
    return _NGINX_PAGE.format(code=code, reason=REASONS[code]).encode()


# A tiny channel line-up so playlists, EPG and player_api have something to show.
CATEGORIES = [
    {"category_id": "1", "category_name": "News", "parent_id": 0},
    {"category_id": "2", "category_name": "Sports", "parent_id": 0},
    {"category_id": "3", "category_name": "Kids", "parent_id": 0},
]
CHANNELS = [
    {"id": 1, "name": "Emulator News 24", "epg": "news24.emu", "category_id": "1"},
    {"id": 2, "name": "Emulator Sports HD", "epg": "sports.emu", "category_id": "2"},
    {"id": 3, "name": "Emulator Kids", "epg": "kids.emu", "category_id": "3"},
]
_CATEGORY_NAMES = {c["category_id"]: c["category_name"] for c in CATEGORIES}

OUTPUT_KEYS = {1: "m3u8", 2: "ts", 3: "rtmp"}
# get.php/playlist `output` values XUI understands, mapped to the stream URL extension.
OUTPUT_EXTENSIONS = {"ts": "ts", "mpegts": "ts", "m3u8": "m3u8", "hls": "m3u8", "rtmp": "ts"}


def live_streams() -> list[dict]:
    """``player_api.php?action=get_live_streams`` rows (XUI field names and typing)."""
    rows = []
    for number, channel in enumerate(CHANNELS, start=1):
        rows.append(
            {
                "num": number,
                "name": channel["name"],
                "stream_type": "live",
                "stream_id": channel["id"],
                "stream_icon": "",
                "epg_channel_id": channel["epg"],
                "added": "1700000000",
                "custom_sid": "",
                "tv_archive": 0,
                "direct_source": "",
                "tv_archive_duration": 0,
                "category_id": channel["category_id"],
                "category_ids": [int(channel["category_id"])],
                "thumbnail": "",
            }
        )
    return rows


def m3u_playlist(base_url: str, username: str, password: str, kind: str, output: str) -> str:
    extension = OUTPUT_EXTENSIONS.get(output, "ts")
    lines = ["#EXTM3U"]
    for channel in CHANNELS:
        url = f"{base_url}/live/{username}/{password}/{channel['id']}.{extension}"
        if kind == "m3u":
            lines.append(f"#EXTINF:-1,{channel['name']}")
        else:
            group = _CATEGORY_NAMES[channel["category_id"]]
            lines.append(
                f'#EXTINF:-1 tvg-id="{channel["epg"]}" tvg-name="{channel["name"]}" '
                f'tvg-logo="" group-title="{group}",{channel["name"]}'
            )
        lines.append(url)
    return "\n".join(lines) + "\n"


def xmltv(base_url: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    start_hour = now.replace(minute=0, second=0, microsecond=0)
    parts = [
        '<?xml version="1.0" encoding="utf-8" ?>',
        '<!DOCTYPE tv SYSTEM "xmltv.dtd">',
        f'<tv generator-info-name="XUI.one emulator" generator-info-url={quoteattr(base_url + "/")}>',
    ]
    for channel in CHANNELS:
        parts.append(
            f"<channel id={quoteattr(channel['epg'])}>"
            f'<display-name>{escape(channel["name"])}</display-name><icon src="" /></channel>'
        )
    for channel in CHANNELS:
        for slot in range(-1, 3):
            begin = start_hour + timedelta(hours=slot)
            end = begin + timedelta(hours=1)
            parts.append(
                f'<programme start="{begin:%Y%m%d%H%M%S} +0000" stop="{end:%Y%m%d%H%M%S} +0000" '
                f"channel={quoteattr(channel['epg'])}>"
                f"<title>{escape(channel['name'])} at {begin:%H:%M}</title>"
                "<desc>Emulated programme.</desc></programme>"
            )
    parts.append("</tv>")
    return "\n".join(parts) + "\n"


def hls_playlist(stream_id: int) -> str:
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:1\n"
        f"#EXTINF:10.0,\n/hls/emulator_{stream_id}_1.ts\n"
    )


def ts_packets(count: int = 4) -> bytes:
    """A few null MPEG-TS packets (sync byte 0x47, PID 0x1FFF): enough for a probe, not a video."""
    packet = bytes([0x47, 0x1F, 0xFF, 0x10]) + bytes(184)
    return packet * count


PORTAL_PAGE = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Stalker portal</title></head>
<body style="background:#000;color:#ccc;font-family:sans-serif">
<p>Portal (XUI.one emulator). MAG devices load this page from <code>/c/</code>;
the emulator does not implement the Stalker protocol.</p>
</body>
</html>
"""
