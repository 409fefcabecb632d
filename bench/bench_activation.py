"""Benchmark: what a customer experiences, against the I/O floor of one order, side by side.

For each database (SQLite in a temporary folder; PostgreSQL when BENCH_PG_URL answers) a driver
process migrates a fresh database, starts the XUI One emulator (a subprocess, fixed 50 ms
latency), an SMTP sink on loopback (the clock stops when it has the credentials mail),
`boxoffice web` (gunicorn, BOXOFFICE_ENV=production, DEBUG off) and `boxoffice worker`, then
posts signed Stripe webhooks over real HTTP. The floor is measured by the same driver at the same
time with the same stand-ins: one `create_line` at 50 ms, one credentials-sized mail handed to
the sink, two synced commits (SQLite synchronous=FULL; PostgreSQL's default synchronous_commit).

After the outage and idle phases the burst is measured again with 1, 2 and 4 `boxoffice worker`
processes (each with its scheduler; the panel's `max_concurrency` holds across them), then one
worker is started again for the growth run. Each database's driver runs BENCH_REPEATS times;
every figure is then the median of the repeats with their (min–max).

Prints figures and ratios, no verdicts.

    make bench
    BENCH_ORDERS=30 BENCH_BURST=200 BENCH_OUTAGE=50 BENCH_GROWTH=100000 make bench   # quick
    BENCH_WORKERS= BENCH_REPEATS=1 ...                                               # no scale-out

Environment: BENCH_ORDERS (sequential orders, 200), BENCH_BURST (2000), BENCH_SENDERS (16),
BENCH_OUTAGE (500), BENCH_GROWTH (existing customers for the growth run, 1000000; 0 skips it),
BENCH_GROWTH_ORDERS (100), BENCH_DATABASES (sqlite,postgresql), BENCH_PG_URL
(postgres://postgres@127.0.0.1:5432/wt_perf: its public schema is dropped and re-created),
BENCH_PORT_BASE (9800: web, panel, SMTP use the next three), BENCH_IDLE_SECONDS (10),
BENCH_WORKERS (worker processes of the scale-out bursts, "1,2,4"; empty skips them),
BENCH_SCALE_BURST (orders in each scale-out burst, 600), BENCH_REPEATS (runs of each database's
driver, 1).
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_support import (  # noqa: E402 - beside this file
    HOST,
    PY,
    ROOT,
    Sink,
    _cpu_seconds,
    _free,
    _pct,
    _wait_for,
    paid_event,
    production_env,
)


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# --- the orchestrator: one driver per database, then the table ------------------------------


def main() -> None:
    databases = os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",")
    pg_url = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/wt_perf")
    repeats = max(env_int("BENCH_REPEATS", 1), 1)
    results: dict[str, list[dict]] = {}
    for db in databases:
        db = db.strip()
        if db == "postgresql" and not _pg_answers(pg_url):
            print(f"== PostgreSQL at {pg_url} does not answer: skipped", flush=True)
            continue
        for n in range(repeats):
            print(f"== {db}: run {n + 1} of {repeats} (progress below)", flush=True)
            out = Path(tempfile.mkstemp(prefix=f"bench-{db}-", suffix=".json")[1])
            status = subprocess.call(
                [PY, __file__, "--driver", db, pg_url, str(out)], cwd=ROOT, env=os.environ.copy()
            )
            if status != 0:
                print(f"== {db}: driver failed ({status})", flush=True)
                continue
            results.setdefault(db, []).append(json.loads(out.read_text()))
    _print_table(results)


def _pg_answers(url: str) -> bool:
    """Whether the bench's PostgreSQL database answers; a server that answers without it gets
    it created (a fresh machine has the server, not the bench's database)."""
    import psycopg  # noqa: PLC0415 - only the orchestrator's PostgreSQL check needs it
    from psycopg import sql  # noqa: PLC0415

    try:
        psycopg.connect(url, connect_timeout=3).close()
        return True
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            return False
    info = psycopg.conninfo.conninfo_to_dict(url)
    name = info.pop("dbname", None)
    if not name:
        return False
    try:
        with psycopg.connect(**info, dbname="postgres", connect_timeout=3, autocommit=True) as c:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        print(f"== created the bench's PostgreSQL database {name}", flush=True)
        return True
    except Exception:
        return False


def _spread(values: list, unit: str = "", digits: int = 1, scale: float = 1.0) -> str:
    """The median of the repeats' figures, with their (min–max) when there are several."""
    vals = [v * scale for v in values if v is not None]
    if not vals:
        return "—"
    mid = f"{statistics.median(vals):.{digits}f}{unit}"
    if len(vals) == 1:
        return mid
    return f"{mid} ({min(vals):.{digits}f}–{max(vals):.{digits}f})"


def _ms(values: list) -> str:
    return _spread(values, " ms", scale=1000)


def _ratio(values: list, floors: list) -> str:
    """Each repeat's own ratio: " (1.89x)" for one repeat, " (1.89x; 1.71–2.58)" for several."""
    ratios = [v / f for v, f in zip(values, floors, strict=True) if v is not None and f]
    if not ratios:
        return ""
    mid = statistics.median(ratios)
    if len(ratios) == 1:
        return f" ({mid:.2f}x)"
    return f" ({mid:.2f}x; {min(ratios):.2f}–{max(ratios):.2f})"


def _print_table(results: dict[str, list[dict]]) -> None:
    if not results:
        return
    dbs = list(results)
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, fn) -> None:
        """`fn` takes the figure's getter (key or function) and renders the repeats' cell."""
        rows.append((label, [fn(_Repeats(results[db])) for db in dbs]))

    first = results[dbs[0]][0]
    print()
    print(
        f"orders: sequential {first['orders']}, burst {first['burst']} from {first['senders']} "
        f"senders, outage {first['outage']}, growth {first['growth']} existing customers; "
        f"{len(results[dbs[0]])} repeat(s) per database"
        + (" (median, min–max)" if len(results[dbs[0]]) > 1 else "")
    )
    row("floor: create_line (50 ms) p50", lambda r: _ms(r.get(lambda x: x["floor_parts"]["panel"])))
    row("floor: credentials mail p50", lambda r: _ms(r.get(lambda x: x["floor_parts"]["smtp"])))
    row("floor: 2 synced commits p50", lambda r: _ms(r.get(lambda x: x["floor_parts"]["commits"])))
    row(
        "floor: one order p50 / p99",
        lambda r: f"{_ms(r.get('floor_p50'))} / {_ms(r.get('floor_p99'))}",
    )
    row(
        "webhook -> mail p50",
        lambda r: _ms(r.get("seq_p50")) + _ratio(r.get("seq_p50"), r.get("floor_p50")),
    )
    row(
        "webhook -> mail p99",
        lambda r: _ms(r.get("seq_p99")) + _ratio(r.get("seq_p99"), r.get("floor_p99")),
    )
    row("webhook ack p50 / p99", lambda r: f"{_ms(r.get('ack_p50'))} / {_ms(r.get('ack_p99'))}")
    row("floor burst throughput", lambda r: _spread(r.get("floor_burst_rate"), " orders/s"))
    row(
        "burst throughput",
        lambda r: (
            _spread(r.get("burst_rate"), " orders/s")
            + _ratio(r.get("burst_rate"), r.get("floor_burst_rate"))
        ),
    )
    row(
        "burst: one order p50 / p99",
        lambda r: f"{_ms(r.get('burst_p50'))} / {_ms(r.get('burst_p99'))}",
    )
    row(
        "burst: task rows run / left",
        lambda r: (
            f"{_spread(r.get('burst_tasks'), digits=0)} / {_spread(r.get('tasks_left'), digits=0)}"
        ),
    )
    row(
        "outage: back -> first / all",
        lambda r: f"{_ms(r.get('outage_first'))} / {_ms(r.get('outage_all'))}",
    )
    row("worker CPU per order (0)", lambda r: _ms(r.get("cpu_per_order")))
    row("idle worker CPU (0)", lambda r: _spread(r.get("idle_cpu"), " % of a core", 2, 100))
    for workers in first.get("scale_workers", []):
        key = str(workers)
        row(
            f"burst of {first['scale_burst']}, {workers} worker(s)",
            lambda r, key=key: (
                _spread(r.get(lambda x: x["scale"][key]["rate"]), " orders/s")
                + _ratio(r.get(lambda x: x["scale"][key]["rate"]), r.get("floor_burst_rate"))
            ),
        )
    if first.get("scale_workers"):
        row(
            "  most panel calls in flight (limit)",
            lambda r: (
                " / ".join(
                    _spread(r.get(lambda x, k=str(w): x["scale"][k]["in_flight"]), digits=0)
                    for w in first["scale_workers"]
                )
                + f" ({r.get('max_concurrency')[0]})"
            ),
        )
    row("seeding", lambda r: _spread(r.get("seed_seconds"), " s", digits=0))
    row(
        "growth: p50 at 0 -> at N",
        lambda r: (
            "—"
            if not any(v is not None for v in r.get("growth_p50"))
            else f"{_ms(r.get('growth_base_p50'))} -> {_ms(r.get('growth_p50'))}"
            + _ratio(r.get("growth_p50"), r.get("growth_base_p50"))
        ),
    )
    row(
        "growth: worker CPU/order at N",
        lambda r: (
            "—"
            if not any(v is not None for v in r.get("growth_cpu"))
            else _ms(r.get("growth_cpu")) + _ratio(r.get("growth_cpu"), r.get("cpu_per_order"))
        ),
    )
    row("idle worker CPU (N)", lambda r: _spread(r.get("growth_idle"), " %", 2, 100))
    row(
        "lost / duplicate lines / duplicate mails"
        + (" (all repeats)" if len(results[dbs[0]]) > 1 else ""),
        lambda r: " / ".join(
            str(sum(v or 0 for v in r.get(k))) for k in ("lost", "dup_lines", "dup_mails")
        ),
    )
    width = max(len(label) for label, _ in rows) + 2
    cols = [max(len(db), *(len(v[i]) for _, v in rows)) + 2 for i, db in enumerate(dbs)]
    print("".ljust(width) + "".join(db.ljust(c) for db, c in zip(dbs, cols, strict=True)))
    for label, values in rows:
        print(label.ljust(width) + "".join(v.ljust(c) for v, c in zip(values, cols, strict=True)))


class _Repeats:
    """One database's repeats: `get(key or function)` is that figure in each (None if absent)."""

    def __init__(self, runs: list[dict]):
        self.runs = runs

    def get(self, what) -> list:
        values = []
        for run in self.runs:
            try:
                values.append(what(run) if callable(what) else run.get(what))
            except (KeyError, TypeError):
                values.append(None)
        return values


# --- the driver: one database, every phase --------------------------------------------------


def driver(db: str, pg_url: str, out: Path) -> None:
    base = env_int("BENCH_PORT_BASE", 9800)
    web_port, panel_port, smtp_port = _free(base + 1), _free(base + 2), _free(base + 3)
    n_seq = env_int("BENCH_ORDERS", 200)
    n_burst = env_int("BENCH_BURST", 2000)
    senders = env_int("BENCH_SENDERS", 16)
    n_outage = env_int("BENCH_OUTAGE", 500)
    growth = env_int("BENCH_GROWTH", 1_000_000)
    n_growth = env_int("BENCH_GROWTH_ORDERS", 100)
    idle_seconds = env_int("BENCH_IDLE_SECONDS", 10)
    scale_workers = [
        int(n) for n in os.environ.get("BENCH_WORKERS", "1,2,4").split(",") if n.strip()
    ]
    n_scale = env_int("BENCH_SCALE_BURST", 600)

    var = Path(tempfile.mkdtemp(prefix="boxoffice-bench-"))
    webhook_secret = "whsec_" + secrets.token_hex(16)
    env = {
        **os.environ,
        **production_env(var=var, smtp_port=smtp_port, webhook_secret=webhook_secret),
        "WEB_WORKERS": os.environ.get("BENCH_WEB_WORKERS", "2"),
    }
    if db == "postgresql":
        env["DATABASE_URL"] = pg_url
        import psycopg  # noqa: PLC0415

        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
    else:
        env.pop("DATABASE_URL", None)
    os.environ.update(env)
    if db != "postgresql":
        os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    import django  # noqa: PLC0415

    django.setup()
    from django.core.management import call_command  # noqa: PLC0415

    call_command("migrate", verbosity=0)
    procs: list[subprocess.Popen] = []

    def spawn(args: list[str], **kw) -> subprocess.Popen:
        p = subprocess.Popen(args, cwd=ROOT, env=os.environ.copy(), **kw)
        procs.append(p)
        return p

    try:
        _drive(
            db,
            out,
            spawn=spawn,
            ports=(web_port, panel_port, smtp_port),
            sizes=(n_seq, n_burst, senders, n_outage, growth, n_growth, idle_seconds),
            scale=(scale_workers, n_scale),
            var=var,
        )
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def _drive(db, out, *, spawn, ports, sizes, scale, var) -> None:
    from decimal import Decimal  # noqa: PLC0415

    import httpx  # noqa: PLC0415
    import stripe  # noqa: PLC0415
    from django.conf import settings  # noqa: PLC0415
    from django.core.mail import EmailMultiAlternatives, get_connection  # noqa: PLC0415
    from django.db import connection, transaction  # noqa: PLC0415

    from boxoffice.billing.services import order_create  # noqa: PLC0415
    from boxoffice.catalog.models import Plan, PlanPanel  # noqa: PLC0415
    from boxoffice.customers.services import customer_create  # noqa: PLC0415
    from boxoffice.panels.adapters.base import LineSpec, PanelError  # noqa: PLC0415
    from boxoffice.panels.models import Panel  # noqa: PLC0415

    web_port, panel_port, smtp_port = ports
    n_seq, n_burst, senders, n_outage, growth, n_growth, idle_seconds = sizes
    scale_workers, n_scale = scale
    res: dict = {
        "orders": n_seq,
        "burst": n_burst,
        "senders": senders,
        "outage": n_outage,
        "growth": growth,
        "scale_workers": scale_workers,
        "scale_burst": n_scale,
        "scale": {},
    }

    spawn(
        [PY, "-m", "boxoffice_dev.xui_one", "--port", str(panel_port), "--api-key", "testkey"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    panel_url = f"http://127.0.0.1:{panel_port}"
    control = httpx.Client(base_url=panel_url, timeout=10)
    _wait_for(lambda: control.get("/_emulator/faults").status_code == 200, "the panel emulator")
    api_key = "testkey"

    def faults(mode: str, latency_ms: int = 50) -> None:
        control.post("/_emulator/faults", json={"mode": mode, "latency_ms": latency_ms})

    faults("ok")
    sink = Sink(smtp_port)

    panel = Panel.objects.create(
        name="Bench panel",
        kind="xui_one",
        api_url=panel_url,
        settings={"access_code": "adminapi1"},
        secrets={"api_key": api_key},
        public_url=panel_url,
        timeout_seconds=5,
        capacity=100_000_000,  # the growth run's seeded lines must not fill it
    )
    res["max_concurrency"] = panel.max_concurrency
    plan = Plan.objects.create(
        slug="m", name="Monthly", duration_days=30, connections=1, price=Decimal("9.99")
    )
    PlanPanel.objects.create(
        plan=plan, panel=panel, mapping={"bouquets": [1, 2], "outputs": ["m3u8", "ts"]}
    )
    connection.close()

    web = spawn(
        [PY, "-m", "boxoffice.cli", "web", "--bind", f"127.0.0.1:{web_port}"],
        stdout=subprocess.DEVNULL,
    )
    worker = spawn([PY, "-m", "boxoffice.cli", "worker"], stdout=subprocess.DEVNULL)
    _wait_for(lambda: _get(web_port, "/healthz") == 200, "boxoffice web")
    assert web.poll() is None and worker.poll() is None
    time.sleep(2)

    # --- the floor -------------------------------------------------------------------------
    adapter = panel.adapter()
    mail_size = {"text": "x" * 1500, "html": "<p>" + "x" * 9000 + "</p>"}
    floor_db = var / "floor.sqlite3"
    pg_floor = db == "postgresql"
    if pg_floor:
        with connection.cursor() as c:
            c.execute("CREATE TABLE IF NOT EXISTS bench_floor (x integer)")
    else:
        c = sqlite3.connect(floor_db)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("CREATE TABLE IF NOT EXISTS bench_floor (x integer)")
        c.close()
    counter = iter(range(10**9))
    counter_lock = threading.Lock()
    local = threading.local()

    def floor_once() -> dict[str, float]:
        with counter_lock:
            i = next(counter)
        t0 = time.perf_counter()
        # commit 1: the paid order and its reserved line
        floor_commit()
        t1 = time.perf_counter()
        spec = LineSpec(
            username=f"floor{i}x",
            password="floorpass123",  # noqa: S106
            max_connections=1,
            expires_at=None,
            mapping={"bouquets": [1], "outputs": ["ts"]},
        )
        for attempt in range(5):
            try:
                adapter.create_line(spec)
                break
            except PanelError:
                # The stand-in's listen queue overflowed under 16 senders: as Boxoffice does.
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
        t2 = time.perf_counter()
        floor_commit()  # commit 2: the line active and the mail owed
        t3 = time.perf_counter()
        rcpt = f"floor{i}@example.test"
        if not hasattr(local, "smtp"):
            local.smtp = get_connection()
        mail = EmailMultiAlternatives(f"floor {i}", mail_size["text"], None, [rcpt])
        mail.attach_alternative(mail_size["html"], "text/html")
        local.smtp.send_messages([mail])
        sink.wait([rcpt], 30)
        t4 = time.perf_counter()
        return {"panel": t2 - t1, "commits": (t1 - t0) + (t3 - t2), "smtp": t4 - t3, "all": t4 - t0}

    def floor_commit() -> None:
        if pg_floor:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("INSERT INTO bench_floor VALUES (1)")
        else:
            if not hasattr(local, "sqlite"):
                local.sqlite = sqlite3.connect(floor_db, isolation_level=None, timeout=20)
                local.sqlite.execute("PRAGMA synchronous=FULL")
            local.sqlite.execute("BEGIN IMMEDIATE")
            local.sqlite.execute("INSERT INTO bench_floor VALUES (1)")
            local.sqlite.execute("COMMIT")

    floors = [floor_once() for _ in range(n_seq)]
    res["floor_parts"] = {
        k: statistics.median(f[k] for f in floors) for k in ("panel", "commits", "smtp")
    }
    res["floor_p50"] = statistics.median(f["all"] for f in floors)
    res["floor_p99"] = _pct([f["all"] for f in floors], 0.99)
    _progress(db, f"floor p50 {res['floor_p50'] * 1000:.1f} ms")

    # --- orders and webhooks ---------------------------------------------------------------
    def orders_make(n: int, tag: str) -> list[tuple[str, str]]:
        made = []
        for i in range(n):
            email = f"{tag}{i}@example.test"
            customer = customer_create(email=email)
            order = order_create(customer=customer, plan=plan, gateway="stripe")
            made.append((email, order.reference))
        connection.close()
        return made

    def post(email_ref: tuple[str, str], n: int) -> tuple[float, int]:
        reference = email_ref[1]
        event = paid_event(reference, f"evt_{reference}_{n}")
        body = json.dumps(event)
        header = stripe.WebhookSignature.generate_signature_header(body, settings_secret)
        if not hasattr(local, "http"):
            local.http = http.client.HTTPConnection("127.0.0.1", web_port, timeout=30)
        start = time.perf_counter()
        try:
            local.http.request("POST", "/billing/webhooks/stripe/", body, _headers(header))
            response = local.http.getresponse()
        except (http.client.HTTPException, OSError):
            local.http = http.client.HTTPConnection("127.0.0.1", web_port, timeout=30)
            local.http.request("POST", "/billing/webhooks/stripe/", body, _headers(header))
            response = local.http.getresponse()
        response.read()
        return start, response.status

    settings_secret = settings.STRIPE_WEBHOOK_SECRET
    worker_cpu0 = _cpu_seconds(worker.pid)

    def sequential(orders: list[tuple[str, str]]) -> tuple[list[float], list[float]]:
        acks, totals = [], []
        for email_ref in orders:
            start, status = post(email_ref, 0)
            acks.append(time.perf_counter() - start)
            assert status == 200, status
            arrived = sink.wait([email_ref[0]], 60)[email_ref[0]]
            totals.append(arrived - start)
        return acks, totals

    seq_orders = orders_make(n_seq, "seq")
    time.sleep(1)
    cpu0 = _cpu_seconds(worker.pid)
    acks, totals = sequential(seq_orders)
    res["cpu_per_order"] = (_cpu_seconds(worker.pid) - cpu0) / n_seq
    res["seq_p50"], res["seq_p99"] = statistics.median(totals), _pct(totals, 0.99)
    res["ack_p50"], res["ack_p99"] = statistics.median(acks), _pct(acks, 0.99)
    res["growth_base_p50"] = res["seq_p50"]
    _progress(db, f"sequential p50 {res['seq_p50'] * 1000:.1f} ms")

    # --- burst -----------------------------------------------------------------------------
    start = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(lambda _: floor_once(), range(n_burst)))
    res["floor_burst_rate"] = n_burst / (time.perf_counter() - start)
    burst_orders = orders_make(n_burst, "burst")
    tasks_before = _tasks_count()
    time.sleep(1)
    start = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        starts = list(pool.map(lambda o: post(o, 0)[0], burst_orders))
    arrived = sink.wait([o[0] for o in burst_orders], 600)
    elapsed = max(arrived.values()) - start
    res["burst_rate"] = n_burst / elapsed
    per = [arrived[o[0]] - s for o, s in zip(burst_orders, starts, strict=True)]
    res["burst_p50"], res["burst_p99"] = statistics.median(per), _pct(per, 0.99)
    time.sleep(3)
    res["burst_tasks"] = _tasks_count() - tasks_before
    _progress(db, f"burst {res['burst_rate']:.1f} orders/s")

    # --- outage ----------------------------------------------------------------------------
    outage_orders = orders_make(n_outage, "outage")
    faults("down")
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(lambda o: post(o, 0), outage_orders))
    time.sleep(5)
    faults("ok")
    back = time.perf_counter()
    arrived = sink.wait([o[0] for o in outage_orders], 900)
    res["outage_first"] = min(arrived.values()) - back
    res["outage_all"] = max(arrived.values()) - back
    _progress(db, f"outage drained in {res['outage_all']:.1f} s")

    # --- idle ------------------------------------------------------------------------------
    time.sleep(3)
    res["tasks_left"] = _tasks_count(waiting=True)
    res["idle_cpu"] = _idle(worker.pid, idle_seconds)
    res["worker_cpu_total"] = _cpu_seconds(worker.pid) - worker_cpu0

    # --- scale-out: the burst again with 1, 2, 4 worker processes --------------------------
    def workers_start(n: int) -> list[subprocess.Popen]:
        started = [
            spawn([PY, "-m", "boxoffice.cli", "worker"], stdout=subprocess.PIPE, text=True)
            for _ in range(n)
        ]
        for p in started:  # each prints one line once its threads are up
            if not p.stdout.readline().startswith("boxoffice worker"):
                raise SystemExit("a worker did not start")
        return started

    def workers_stop(stopping: list[subprocess.Popen]) -> None:
        for p in stopping:
            p.send_signal(signal.SIGTERM)
        for p in stopping:
            p.wait(timeout=60)

    scale_orders: list[tuple[str, str]] = []
    if scale_workers:
        workers_stop([worker])
        for n in scale_workers:
            batch = orders_make(n_scale, f"scale{n}w")
            scale_orders += batch
            running = workers_start(n)
            time.sleep(2)
            control.post("/_emulator/in_flight")  # the most at once, from here
            start = time.perf_counter()
            with ThreadPoolExecutor(senders) as pool:
                list(pool.map(lambda o: post(o, 0), batch))
            arrived = sink.wait([o[0] for o in batch], 600)
            rate = n_scale / (max(arrived.values()) - start)
            most = control.get("/_emulator/in_flight").json()["max_in_flight"]
            res["scale"][str(n)] = {"rate": rate, "in_flight": most}
            workers_stop(running)
            _progress(
                db,
                f"{n} worker(s): {rate:.1f} orders/s "
                f"({rate / res['floor_burst_rate']:.2f}x the floor's burst), "
                f"{most} panel calls in flight at most",
            )
        worker = spawn([PY, "-m", "boxoffice.cli", "worker"], stdout=subprocess.PIPE, text=True)
        if not worker.stdout.readline().startswith("boxoffice worker"):
            raise SystemExit("the worker did not start again")

    # --- growth ----------------------------------------------------------------------------
    if growth:
        t0 = time.perf_counter()
        subprocess.check_call(
            [PY, "-m", "boxoffice.cli", "bench_seed", "--customers", str(growth)],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
        )
        res["seed_seconds"] = time.perf_counter() - t0
        _progress(db, f"seeded {growth} in {res['seed_seconds']:.0f} s")
        time.sleep(3)
        # The same number of orders at 0 and at N, so the two medians compare like with like.
        n = min(n_growth, n_seq)
        res["growth_base_p50"] = statistics.median(totals[:n])
        growth_orders = orders_make(n, "grown")
        time.sleep(1)
        cpu0 = _cpu_seconds(worker.pid)
        _acks, grown = sequential(growth_orders)
        res["growth_cpu"] = (_cpu_seconds(worker.pid) - cpu0) / n
        res["growth_p50"] = statistics.median(grown)
        res["growth_idle"] = _idle(worker.pid, idle_seconds)
        _progress(db, f"growth p50 {res['growth_p50'] * 1000:.1f} ms")

    # --- what was lost or doubled ----------------------------------------------------------
    every = seq_orders + burst_orders + outage_orders + scale_orders
    res["lost"] = sum(1 for o in every if o[0] not in sink.arrived)
    lines = control.get("/_emulator/lines").json()
    names = [
        line.get("username") for line in lines if not str(line.get("username")).startswith("floor")
    ]
    res["dup_lines"] = len(names) - len(set(names))
    res["dup_mails"] = sink.duplicates()
    out.write_text(json.dumps(res))


def _tasks_count(*, waiting: bool = False) -> int:
    from django.db import connection  # noqa: PLC0415
    from django_tasks_db.models import DBTaskResult  # noqa: PLC0415

    qs = DBTaskResult.objects.all()
    if waiting:
        qs = qs.filter(status__in=["READY", "RUNNING"])
    count = qs.count()
    connection.close()
    return count


def _idle(pid: int, seconds: int) -> float:
    cpu0, t0 = _cpu_seconds(pid), time.perf_counter()
    time.sleep(seconds)
    return (_cpu_seconds(pid) - cpu0) / (time.perf_counter() - t0)


def _headers(signature: str) -> dict[str, str]:
    return {
        "Host": HOST,
        "X-Forwarded-Proto": "https",
        "Content-Type": "application/json",
        "Stripe-Signature": signature,
    }


def _get(port: int, path: str) -> int:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", path, headers={"Host": HOST, "X-Forwarded-Proto": "https"})
        status = c.getresponse().status
        c.close()
        return status
    except OSError:
        return 0


def _progress(db: str, text: str) -> None:
    print(f"   {db}: {text}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--driver":
        driver(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
    else:
        main()
