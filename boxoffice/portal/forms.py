from __future__ import annotations

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.utils.translation import gettext_lazy as _

from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer
from boxoffice.customers.services import email_normalise
from boxoffice.lib.ratelimit import SignInGuard, SignInThrottled, client_ip
from boxoffice.portal.tasks import password_reset_send


class PortalLoginForm(AuthenticationForm):
    """E-mail + password of a customer's own login. Every attempt is counted before any password
    is checked (lib/ratelimit.SignInGuard), so concurrent guesses cannot slip past the limit."""

    username = forms.EmailField(
        label=_("E-mail"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That e-mail and password do not match. Check both and try again.",
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.offer_link = False

    def clean_username(self) -> str:
        return email_normalise(self.cleaned_data["username"])

    def clean(self):
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not email or not password:
            return self.cleaned_data
        guard = SignInGuard(scope="portal", email=email, ip=client_ip(self.request))
        try:
            guard.enter()
        except SignInThrottled as exc:
            self.offer_link = exc.offer_link
            raise forms.ValidationError(str(exc), code="throttled") from None
        self.user_cache = authenticate(self.request, customer_email=email, password=password)
        if self.user_cache is None:
            self.offer_link = True
            raise self.get_invalid_login_error()
        self.confirm_login_allowed(self.user_cache)
        guard.succeeded()
        return self.cleaned_data


class MagicLinkRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200)


class CustomerPasswordResetForm(PasswordResetForm):
    """Django's reset form, but the mail goes through a task (see portal/services.py) so the
    answer takes the same time for every address; `save()` only queues it."""

    def save(self, **kwargs) -> None:
        password_reset_send.enqueue(email_normalise(self.cleaned_data["email"]))


class TrialConvertForm(forms.Form):
    """Which paid plan a trial line becomes, and how to pay it."""

    plan = forms.ModelChoiceField(
        label=_("Paid plan"),
        queryset=Plan.objects.none(),
        empty_label=None,
        error_messages={"required": "Choose a plan.", "invalid_choice": "Choose a plan."},
    )
    gateway = forms.ChoiceField(
        label=_("How would you like to pay?"),
        error_messages={"required": "Choose how you would like to pay."},
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, plans, gateways: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = plans
        self.fields["plan"].label_from_instance = lambda p: (
            f"{p.name} · {p.price} {p.currency} · {p.connections} connection"
            f"{'s' if p.connections != 1 else ''}"
        )
        self.fields["gateway"].choices = gateways
        if len(gateways) == 1:
            self.fields["gateway"].initial = gateways[0][0]


class BillingDetailsForm(forms.ModelForm):
    """Who the customer's invoices are made out to, from the next invoice on."""

    class Meta:
        model = Customer
        fields = ["billing_name", "billing_address", "vat_id"]
        labels = {
            "billing_name": "Name or company on invoices",
            "billing_address": "Billing address",
            "vat_id": "VAT number (businesses)",
        }
        widgets = {
            "billing_name": forms.TextInput(attrs={"autocomplete": "organization"}),
            "billing_address": forms.Textarea(attrs={"rows": 3, "autocomplete": "street-address"}),
        }

    def clean_vat_id(self) -> str:
        value = "".join(self.cleaned_data.get("vat_id", "").split()).upper()
        if value and not (value[:2].isalpha() and value[2:].isalnum() and 4 <= len(value) <= 16):
            raise forms.ValidationError(
                "A VAT number starts with its country code, e.g. DE123456789."
            )
        return value


class PlanChangeForm(forms.Form):
    """Which plan a line moves to (an upgrade paid now, or a downgrade at the next renewal),
    and how to pay an upgrade. Only the plans listed for the line are valid choices."""

    plan = forms.TypedChoiceField(
        label=_("New plan"),
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose a plan.",
            "invalid_choice": "Choose one of the plans shown for this line.",
        },
    )
    gateway = forms.ChoiceField(
        label=_("How would you like to pay?"),
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Choose how you would like to pay."},
    )

    def __init__(self, *args, choices, gateways: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.by_pk = {choice.plan.pk: choice for choice in choices}
        self.fields["plan"].choices = [(c.plan.pk, c.plan.name) for c in choices]
        self.fields["gateway"].choices = gateways
        if gateways:
            self.fields["gateway"].initial = gateways[0][0]

    def clean(self):
        data = super().clean()
        choice = self.by_pk.get(data.get("plan")) if data.get("plan") is not None else None
        data["choice"] = choice
        if choice is not None and choice.upgrade and choice.quote and choice.quote.pay > 0:
            if not data.get("gateway"):
                self.add_error("gateway", "Choose how you would like to pay.")
        return data


class AddonForm(forms.Form):
    """How many extra connections to add, and how to pay them."""

    count = forms.TypedChoiceField(
        label=_("Extra connections to add"),
        coerce=int,
        error_messages={
            "required": "Choose how many connections to add.",
            "invalid_choice": "Choose one of the numbers shown.",
        },
    )
    gateway = forms.ChoiceField(
        label=_("How would you like to pay?"),
        widget=forms.RadioSelect,
        error_messages={"required": "Choose how you would like to pay."},
    )

    def __init__(self, *args, counts: list[int], gateways: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["count"].choices = [(n, str(n)) for n in counts]
        self.fields["gateway"].choices = gateways
        if gateways:
            self.fields["gateway"].initial = gateways[0][0]
