from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils import timezone


class BankTransferConfirmForm(forms.Form):
    """What the operator read on the bank statement. A different amount needs a reason."""

    amount = forms.DecimalField(
        label="Amount received", max_digits=10, decimal_places=2, min_value=Decimal("0.01")
    )
    received_on = forms.DateField(
        label="Date received", widget=forms.DateInput(attrs={"type": "date"})
    )
    bank_reference = forms.CharField(
        label="Bank reference",
        max_length=100,
        help_text="The bank's reference for this transfer, as on the statement.",
    )
    reason = forms.CharField(
        label="Reason (only if the amount differs)",
        max_length=200,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, order, **kwargs):
        super().__init__(*args, **kwargs)
        self.order = order

    def clean_received_on(self):
        received_on = self.cleaned_data["received_on"]
        if received_on > timezone.localdate():
            raise forms.ValidationError("A transfer cannot have arrived in the future.")
        if received_on < self.order.created_at.date():
            raise forms.ValidationError("This order did not exist yet on that day.")
        return received_on

    def clean(self):
        cleaned = super().clean()
        amount = cleaned.get("amount")
        if amount is not None and amount != self.order.amount and not cleaned.get("reason", ""):
            self.add_error(
                "reason",
                f"{amount} {self.order.currency} is not the {self.order.amount} "
                f"{self.order.currency} this order costs: say why you confirm it anyway.",
            )
        return cleaned


class RefundForm(forms.Form):
    """How much goes back through the gateway: all that is left, or part of it."""

    def __init__(self, *args, left: Decimal, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["amount"] = forms.DecimalField(
            label="Amount to refund",
            max_digits=10,
            decimal_places=2,
            min_value=Decimal("0.01"),
            max_value=left,
            help_text=(
                f"Up to {left} {currency}. Less than that is a partial refund: the line stays "
                "as it is and the order waits in the review queue for your decision."
            ),
        )
