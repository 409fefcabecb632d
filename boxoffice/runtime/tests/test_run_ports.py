"""`boxoffice run` follows the port variables end to end: a second checkout on the same machine
gets its own web server, emulators and inbox, and its demo panel points at its own emulator."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from boxoffice.lib.tests.settings_under import VARIABLES
from boxoffice.runtime.management.commands.run import demo_catalogue

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_it_points_the_demo_catalogue_at_the_chosen_panel_port(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    text = demo_catalogue(panel_port=8111).read_text()
    assert "127.0.0.1:8100" not in text
    assert 'api_url = "http://127.0.0.1:8111"' in text
    assert 'public_url = "http://127.0.0.1:8111"' in text


@pytest.mark.multiprocess
def test_it_runs_everything_on_the_ports_it_is_given(tmp_path):
    ports = {
        name: _free_port()
        for name in (
            "BOXOFFICE_PORT",
            "PANEL_EMULATOR_PORT",
            "STRIPE_EMULATOR_PORT",
            "PAYPAL_EMULATOR_PORT",
            "BTCPAY_EMULATOR_PORT",
            "NOWPAYMENTS_EMULATOR_PORT",
            "EMAIL_PORT",
        )
    }
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES and k != "DATABASE_URL"}
    env.update(
        {name: str(port) for name, port in ports.items()},
        BOXOFFICE_VAR_DIR=str(tmp_path / "var"),
        PYTHONPATH=str(ROOT),
        WORKER_THREADS="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "boxoffice.cli", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        site = f"http://127.0.0.1:{ports['BOXOFFICE_PORT']}"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            try:
                if httpx.get(f"{site}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "boxoffice run did not come up"
            time.sleep(0.3)
        panel = f"http://127.0.0.1:{ports['PANEL_EMULATOR_PORT']}"
        stripe = f"http://127.0.0.1:{ports['STRIPE_EMULATOR_PORT']}"
        assert httpx.get(f"{stripe}/", timeout=5).json()["api_base"] == stripe
        paypal = f"http://127.0.0.1:{ports['PAYPAL_EMULATOR_PORT']}"
        assert httpx.get(f"{paypal}/", timeout=5).json()["api_base"] == paypal
        for name in ("BTCPAY_EMULATOR_PORT", "NOWPAYMENTS_EMULATOR_PORT"):
            crypto = f"http://127.0.0.1:{ports[name]}/_emulator/invoices"
            assert httpx.get(crypto, timeout=5).status_code == 200
        # The demo checkout offers every gateway.
        checkout = httpx.get(f"{site}/checkout/monthly/", timeout=5).text
        for kind in ("stripe", "paypal", "btcpay", "nowpayments", "manual"):
            assert f'value="{kind}"' in checkout
        with socket.create_connection(("127.0.0.1", ports["EMAIL_PORT"]), timeout=5) as smtp:
            assert smtp.recv(100).startswith(b"220")
        db = sqlite3.connect(tmp_path / "var" / "boxoffice.sqlite3")
        [(api_url, public_url)] = db.execute("SELECT api_url, public_url FROM panels_panel")
        db.close()
        assert api_url == panel and public_url == panel
        # The panel answers there, as the demo panel's API.
        assert httpx.get(f"{panel}/adminapi1/", timeout=5).status_code < 500
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
