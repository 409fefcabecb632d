"""`boxoffice emulate-panel`: the XUI.one panel emulator as a process of its own (used by `make run`)."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand

from boxoffice_dev.management.serve import serve_until_stopped
from boxoffice_dev.xui_one import FAULT_MODES, XuiOneEmulator


class Command(BaseCommand):
    help = "Run the XUI.one panel emulator: Admin API, player_api, playlists and EPG on one port."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8100)
        parser.add_argument("--access-code", default="adminapi1", help="Admin API access code")
        parser.add_argument(
            "--api-key",
            default=os.environ.get("DEMO_PANEL_API_KEY") or "dev-panel-key",
            help="the admin api_key (default: $DEMO_PANEL_API_KEY, else dev-panel-key)",
        )
        parser.add_argument(
            "--state",
            default=None,
            help="JSON file loaded at start and saved after every change, e.g. var/panel-emulator.json",
        )
        parser.add_argument("--quiet", action="store_true", help="do not log each request")

    def handle(self, *args, host, port, access_code, api_key, state, quiet, **options):
        emulator = XuiOneEmulator(
            host=host,
            port=port,
            access_code=access_code,
            api_key=api_key,
            state_path=state,
            log_requests=not quiet,
        ).start()
        base = emulator.base_url
        self.stdout.write(
            f"XUI.one emulator admin API: {emulator.admin_url}  (api_key={api_key})\n"
            f"  customers: {base}/player_api.php, {base}/playlist/U/P/m3u_plus, {base}/epg/U/P\n"
            f"  state:     {state or '(in memory only)'}\n"
            f"  faults:    POST {base}/_emulator/faults "
            f'{{"mode": one of {"|".join(FAULT_MODES)}, "latency_ms": N, "count": N|null}}\n'
            f"  inspect:   {base}/_emulator/lines, {base}/_emulator/requests; "
            f"POST {base}/_emulator/reset\n"
            "Ctrl-C to stop."
        )
        self.stdout.flush()
        serve_until_stopped(emulator.stop)
