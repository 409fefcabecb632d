"""The gateway contract for bank transfers: the operator's confirmation is what "pays"."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from boxoffice.billing.gateways.contract import GatewayContract, GatewayDriver
from boxoffice.billing.services import TransferNotConfirmable, order_confirm_bank_transfer

pytestmark = pytest.mark.django_db


class ManualDriver(GatewayDriver):
    def __init__(self, client):
        self.client = client

    def pay(self, order):
        # What an operator does on the back office's confirm-transfer page.
        order_confirm_bank_transfer(
            order=order,
            amount=order.amount,
            received_on=timezone.localdate(),
            bank_reference="STATEMENT-1",
            actor="operator",
        )

    def leave_pending(self, order):
        # The checkout itself leaves a transfer pending: the customer has the instructions.
        pass

    def deliver_again(self, order):
        # A second operator confirms the same transfer: refused, nothing recorded twice.
        with pytest.raises(TransferNotConfirmable):
            self.pay(order)

    def deliver_forged(self, order):
        # Bank transfers have no notifications: whatever is posted to their endpoint is refused.
        body = json.dumps({"order": order.reference, "status": "paid", "amount": str(order.amount)})
        response = self.client.post(
            "/billing/webhooks/manual/", data=body, content_type="application/json"
        )
        return response.status_code


class TestManualGatewayContract(GatewayContract):
    kind = "manual"

    @pytest.fixture
    def gateway_driver(self, client):
        return ManualDriver(client)
