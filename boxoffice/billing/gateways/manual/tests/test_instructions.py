"""Bank-transfer instructions come from the manual adapter, from a typed request."""

from __future__ import annotations

from decimal import Decimal

from boxoffice.billing.gateways.base import CheckoutRequest
from boxoffice.billing.gateways.manual.adapter import ManualConfig, ManualGateway


def test_the_instructions_name_the_amount_the_account_and_the_reference():
    adapter = ManualGateway(ManualConfig(details="Acme TV\nIBAN: XX00 1234"))
    request = CheckoutRequest(
        order_reference="BX-ABCDEFGH",
        amount=Decimal("12.50"),
        currency="EUR",
        description="Acme TV — Monthly",
        customer_email="a@example.test",
        success_url="https://tv.example/order/t/",
    )
    text = adapter.instructions(request)
    assert text.startswith("Please transfer 12.50 EUR to:\nAcme TV\nIBAN: XX00 1234\n")
    assert "Reference: BX-ABCDEFGH\n" in text
    start = adapter.start_checkout(request)
    assert start.instructions == text
    assert start.redirect_url == "https://tv.example/order/t/"
    assert start.gateway_reference == ""
