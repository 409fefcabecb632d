"""The approval page the buyer sees at PayPal: plain HTML, readable on a phone, no JavaScript."""

from __future__ import annotations

import html
from typing import Any

_STYLE = """
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;
background:#f5f7fa;color:#001c64}.banner{background:#ffc439;color:#2c2e2f;text-align:center;
padding:.5rem;font-weight:600;font-size:.875rem}main{max-width:28rem;margin:1.5rem auto;
padding:0 1rem}.card{background:#fff;border-radius:.75rem;box-shadow:0 2px 8px rgba(0,0,0,.08);
padding:1.5rem}h1{font-size:1.125rem;margin:0 0 .25rem;color:#545d68}.total{font-size:2rem;
font-weight:700;margin:0 0 1rem}button{display:block;width:100%;margin-top:.75rem;padding:.75rem;
border:0;border-radius:1.5rem;font:inherit;font-weight:600;cursor:pointer}.pay{background:#0070e0;
color:#fff}.later{background:#e6ecf2;color:#001c64}.fail{background:#fff;color:#b3261e;
border:1px solid #b3261e}.note{color:#545d68;font-size:.875rem}.center{text-align:center}
a{color:#0070e0}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)} · PayPal emulator</title><style>{_STYLE}</style>"
        '</head><body><div class="banner">PayPal emulator — sandbox</div>'
        f'<main><div class="card">{body}</div></main></body></html>'
    )


def page_message(title: str, message: str) -> str:
    return _page(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>")


def approval_page(order: dict[str, Any]) -> str:
    esc = html.escape
    oid = esc(order["id"])
    unit = order["purchase_units"][0]
    total = f"{unit['amount']['value']} {unit['amount']['currency_code']}"
    parts = [
        "<h1>Pay with PayPal</h1>",
        f"<p class='total'>{esc(total)}</p>",
        f"<p>{esc(unit.get('description', ''))}</p>",
    ]
    if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
        parts.append(
            f'<form method="post" action="/checkoutnow/{oid}/approve">'
            f'<button class="pay" type="submit">Approve and pay {esc(total)}</button>'
            f'<button class="later" type="submit" formaction="/checkoutnow/{oid}/approve_pending">'
            "Approve (the capture stays pending: eCheck)</button>"
            f'<button class="fail" type="submit" formaction="/checkoutnow/{oid}/deny">'
            "Approve (the capture is declined)</button>"
            f'<button class="later" type="submit" formaction="/checkoutnow/{oid}/cancel">'
            "Cancel and return to the merchant</button></form>"
        )
    else:
        parts.append(f"<p>This order is <strong>{esc(order['status'].lower())}</strong>.</p>")
    parts.append(f'<p class="note">Order <code>{oid}</code></p>')
    return _page("Pay with PayPal", "".join(parts))


def subscription_page(sub: dict[str, Any]) -> str:
    esc = html.escape
    sid = esc(sub["id"])
    parts = ["<h1>Subscribe with PayPal</h1>", f"<p>Subscription <code>{sid}</code></p>"]
    if sub["status"] == "APPROVAL_PENDING":
        parts.append(
            f'<form method="post" action="/webapps/billing/subscriptions/{sid}/approve">'
            '<button class="pay" type="submit">Agree and subscribe</button>'
            f'<button class="later" type="submit" '
            f'formaction="/webapps/billing/subscriptions/{sid}/cancel">'
            "Cancel and return to the merchant</button></form>"
        )
    else:
        parts.append(f"<p>This subscription is <strong>{esc(sub['status'].lower())}</strong>.</p>")
    return _page("Subscribe with PayPal", "".join(parts))
