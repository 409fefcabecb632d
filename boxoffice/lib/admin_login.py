"""The back office's login form: Django's, with the same attempt limits as the portal's."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm

from boxoffice.lib.ratelimit import SignInGuard, SignInThrottled, client_ip


class RateLimitedAdminLoginForm(AdminAuthenticationForm):
    def clean(self):
        username = (self.cleaned_data.get("username") or "").strip().lower()
        if not username or not self.cleaned_data.get("password"):
            return super().clean()
        guard = SignInGuard(
            scope="admin", email=username, ip=client_ip(self.request), per_account=False
        )
        try:
            guard.enter()
        except SignInThrottled as exc:
            raise forms.ValidationError(str(exc), code="throttled") from None
        cleaned = super().clean()
        guard.succeeded()
        return cleaned
