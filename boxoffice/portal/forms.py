from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from boxoffice.portal.services import LoginThrottle


def client_ip(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client wants it to be unless a trusted
    # proxy sets it, and trusting it would let anyone dodge the per-address limit.
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


class PortalLoginForm(AuthenticationForm):
    """E-mail + password; the portal user's username is the lower-cased e-mail. Failed attempts are
    rate limited per address and per client before any password is checked."""

    username = forms.EmailField(
        label="E-mail",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That e-mail and password do not match. Check both and try again.",
        "throttled": "Too many attempts, try again in %(minutes)s.",
    }

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()

    def clean(self):
        email = self.cleaned_data.get("username") or self.data.get("username", "").strip().lower()
        throttle = LoginThrottle(email=email, ip=client_ip(self.request))
        minutes = throttle.blocked_minutes()
        if minutes:
            raise forms.ValidationError(
                self.error_messages["throttled"],
                code="throttled",
                params={"minutes": f"{minutes} minute{'' if minutes == 1 else 's'}"},
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            throttle.record_failure()
            raise
        if self.get_user() is not None:
            throttle.record_success()
        return cleaned


class MagicLinkRequestForm(forms.Form):
    email = forms.EmailField(
        label="E-mail",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
