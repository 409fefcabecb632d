from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.utils import timezone

from boxoffice.panels.models import Panel
from boxoffice.provisioning.services import OPERATOR_ACTIONS


class LineOperateForm(forms.Form):
    """One back-office action on a line; which of the optional fields it needs depends on it."""

    action = forms.ChoiceField(choices=list(OPERATOR_ACTIONS.items()))
    expires_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    connections = forms.IntegerField(required=False, min_value=1, max_value=100)
    panel = forms.ModelChoiceField(queryset=Panel.objects.filter(enabled=True), required=False)
    confirm = forms.BooleanField(required=False)

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "extend_to" and not data.get("expires_on"):
            self.add_error("expires_on", "Choose the new expiry date.")
        if action == "set_connections" and not data.get("connections"):
            self.add_error("connections", "Give the number of connections.")
        if action == "move" and not data.get("panel"):
            self.add_error("panel", "Choose the target panel.")
        if action == "terminate" and not data.get("confirm"):
            self.add_error("confirm", "Tick the box to confirm the termination.")
        return data

    @property
    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_on")
        # The end of the chosen day in the operator's time zone: "until the 31st" includes it.
        return timezone.make_aware(datetime.combine(day, time(23, 59, 59))) if day else None
