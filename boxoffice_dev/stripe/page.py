"""The hosted checkout page: plain HTML, readable on a phone, no JavaScript."""

from __future__ import annotations

import html
from typing import Any

from boxoffice_dev.stripe.wire import format_amount


def success_location(session: dict[str, Any]) -> str:
    return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])


# --- the hosted page ------------------------------------------------------------------------
_PAGE_STYLE = """
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;
background:#f6f8fa;color:#1a1f36}.banner{background:#ffc107;color:#3d2c00;text-align:center;
padding:.5rem;font-weight:600;font-size:.875rem}main{max-width:28rem;margin:1.5rem auto;
padding:0 1rem}.card{background:#fff;border-radius:.75rem;box-shadow:0 2px 8px rgba(0,0,0,.08);
padding:1.5rem}h1{font-size:1.125rem;margin:0 0 .25rem;font-weight:600;color:#697386}
.total{font-size:2rem;font-weight:700;margin:0 0 1rem}ul{list-style:none;padding:0;margin:0 0 1rem}
li{display:flex;justify-content:space-between;gap:1rem;padding:.375rem 0;border-bottom:1px solid
#e3e8ee}label{display:block;font-size:.875rem;color:#697386;margin:1rem 0 .25rem}input{width:100%;
padding:.625rem;border:1px solid #cfd7df;border-radius:.375rem;font:inherit}button{display:block;
width:100%;margin-top:.75rem;padding:.75rem;border:0;border-radius:.375rem;font:inherit;
font-weight:600;cursor:pointer}.pay{background:#635bff;color:#fff}.later{background:#e3e8ee;
color:#1a1f36}.fail{background:#fff;color:#cd3d64;border:1px solid #cd3d64}.error{background:#fde8ec;
color:#a41c4e;padding:.75rem;border-radius:.375rem;margin-bottom:1rem}.note{color:#697386;
font-size:.875rem}a{color:#635bff}.center{text-align:center;margin-top:1rem}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)} · Stripe emulator</title><style>{_PAGE_STYLE}</style>"
        '</head><body><div class="banner">Stripe emulator — test mode</div>'
        f'<main><div class="card">{body}</div></main></body></html>'
    )


def page_message(title: str, message: str) -> str:
    return _page(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>")


def checkout_page(context: dict[str, Any]) -> str:
    session, esc = context["session"], html.escape
    sid = esc(session["id"])
    currency = session["currency"]
    total = format_amount(session["amount_total"], currency)
    items = "".join(
        f"<li><span>{esc(item['description'])} × {item['quantity']}</span>"
        f"<span>{esc(format_amount(item['amount_total'], currency))}</span></li>"
        for item in context["line_items"]
    )
    parts = [f"<h1>Pay</h1><p class='total'>{esc(total)}</p><ul>{items}</ul>"]
    success = esc(success_location(session))
    status, async_state = session["status"], context["async_state"]
    if status == "open":
        if context["error"]:
            parts.append(f'<div class="error" role="alert">{esc(context["error"])}</div>')
        email = session["customer_email"] or ""
        readonly = " readonly" if email else ""
        parts.append(
            f'<form method="post" action="/pay/{sid}/pay"><label for="email">E-mail</label>'
            f'<input id="email" name="email" type="email" value="{esc(email)}"{readonly} '
            f'placeholder="customer@example.com">'
            f'<button class="pay" type="submit">Pay {esc(total)}</button>'
            f'<button class="later" type="submit" formaction="/pay/{sid}/pay_later">'
            "Pay later (bank debit)</button>"
            f'<button class="fail" type="submit" formaction="/pay/{sid}/fail">'
            "Fail (card declined)</button></form>"
        )
        if session["cancel_url"]:
            parts.append(
                f'<p class="center"><a href="{esc(session["cancel_url"])}">Cancel and go back</a></p>'
            )
    elif status == "complete" and async_state == "pending":
        parts.append(
            "<p>The bank debit is <strong>processing</strong>. Decide how it ends:</p>"
            f'<form method="post" action="/pay/{sid}/async_succeeded">'
            '<button class="pay" type="submit">Bank confirms the payment</button>'
            f'<button class="fail" type="submit" formaction="/pay/{sid}/async_failed">'
            "Bank rejects the payment</button></form>"
            f'<p class="center"><a href="{success}">Return to the merchant</a></p>'
        )
    elif status == "complete":
        outcome = "failed" if async_state == "failed" else "paid"
        parts.append(
            f"<p>This checkout is complete: <strong>{outcome}</strong>.</p>"
            f'<p class="center"><a href="{success}">Return to the merchant</a></p>'
        )
    else:
        parts.append("<p>This checkout session has <strong>expired</strong>.</p>")
        if session["cancel_url"]:
            parts.append(
                f'<p class="center"><a href="{esc(session["cancel_url"])}">Go back</a></p>'
            )
    parts.append(f'<p class="note">Session <code>{sid}</code></p>')
    return _page("Checkout", "".join(parts))


def portal_page(session: dict[str, Any]) -> str:
    """The billing portal's payment-method update flow: one button replaces the card."""
    esc = html.escape
    done = "<p class='note'>Card updated.</p>" if session.get("card_updated") else ""
    return _page(
        "Billing portal",
        "<h1>Update your payment method</h1>"
        f"<p class='note'>Customer {esc(session['customer'])}</p>{done}"
        f"<form method='post' action='/portal/{esc(session['id'])}/update_card'>"
        "<label for='card'>Card number</label>"
        "<input id='card' name='card' value='4242 4242 4242 4242'>"
        "<button class='pay' type='submit'>Save card</button></form>",
    )
