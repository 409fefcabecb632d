"""The checkout form: who the customer is, how they watch, how they pay."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from boxoffice.billing.checkout import CheckoutData
from boxoffice.billing.models import Order
from boxoffice.catalog.models import Plan
from boxoffice.customers.models import Customer
from boxoffice.customers.services import customer_find, email_normalise
from boxoffice.panels.services import panels_take_devices

OTHER_COUNTRY = "other"
KNOWN_ADDRESS = "known_address"

# A compact list of the countries most customers come from; everyone else picks "Other".
COUNTRIES: list[tuple[str, str]] = [
    ("AL", "Albania"),
    ("DZ", "Algeria"),
    ("AU", "Australia"),
    ("AT", "Austria"),
    ("BE", "Belgium"),
    ("BA", "Bosnia and Herzegovina"),
    ("BR", "Brazil"),
    ("BG", "Bulgaria"),
    ("CA", "Canada"),
    ("HR", "Croatia"),
    ("CY", "Cyprus"),
    ("CZ", "Czechia"),
    ("DK", "Denmark"),
    ("EG", "Egypt"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("GR", "Greece"),
    ("HU", "Hungary"),
    ("IN", "India"),
    ("IE", "Ireland"),
    ("IL", "Israel"),
    ("IT", "Italy"),
    ("KW", "Kuwait"),
    ("LU", "Luxembourg"),
    ("MT", "Malta"),
    ("MX", "Mexico"),
    ("MA", "Morocco"),
    ("NL", "Netherlands"),
    ("NZ", "New Zealand"),
    ("NO", "Norway"),
    ("PK", "Pakistan"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("QA", "Qatar"),
    ("RO", "Romania"),
    ("SA", "Saudi Arabia"),
    ("RS", "Serbia"),
    ("ZA", "South Africa"),
    ("ES", "Spain"),
    ("SE", "Sweden"),
    ("CH", "Switzerland"),
    ("TN", "Tunisia"),
    ("TR", "Türkiye"),
    ("AE", "United Arab Emirates"),
    ("GB", "United Kingdom"),
    ("US", "United States"),
]

_MAC_SEPARATED = re.compile(r"^[0-9A-F]{2}([:-])[0-9A-F]{2}(?:\1[0-9A-F]{2}){4}$")
_MAC_BARE = re.compile(r"^[0-9A-F]{12}$")
_MAC_DOTTED = re.compile(r"^[0-9A-F]{4}\.[0-9A-F]{4}\.[0-9A-F]{4}$")
_LETTERS_AND_DIGITS = re.compile(r"^[A-Za-z0-9]+$")

MAC_EXAMPLE = "00:1A:79:AB:CD:EF"


def mac_address_normalise(value: str) -> str:
    """ "00-1a-79-ab-cd-ef", "001a79abcdef", "001A.79AB.CDEF" → "00:1A:79:AB:CD:EF".
    Raises ValidationError for anything that cannot be a box's own address."""
    text = (value or "").strip().upper()
    if not (_MAC_SEPARATED.match(text) or _MAC_BARE.match(text) or _MAC_DOTTED.match(text)):
        raise ValidationError(
            _(
                "Enter the 12-character MAC address printed on the label of your box, like "
                "%(example)s."
            ),
            code="invalid",
            params={"example": MAC_EXAMPLE},
        )
    digits = re.sub(r"[^0-9A-F]", "", text)
    if int(digits, 16) == 0:
        raise ValidationError(
            _("00:00:00:00:00:00 is not a real address: copy the MAC from the label on your box."),
            code="zero",
        )
    # The lowest bit of the first byte marks a group (multicast/broadcast) address, which no
    # single box has; it is almost always a typo.
    if int(digits[:2], 16) & 1:
        raise ValidationError(
            _(
                "That is a group (multicast) address, not a box's own. Please check it against "
                "the label on your box."
            ),
            code="multicast",
        )
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def _letters_and_digits(value: str, *, message: str, low: int, high: int) -> str:
    """`message` names the field and takes %(low)s and %(high)s."""
    if not (low <= len(value) <= high) or not _LETTERS_AND_DIGITS.match(value):
        raise ValidationError(message, code="invalid", params={"low": low, "high": high})
    return value


class CheckoutForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail"),
        error_messages={"required": _("Enter your e-mail address.")},
        max_length=254,
        help_text=_("Your login details and receipts go here."),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
    )
    name = forms.CharField(
        label=_("Name"),
        max_length=150,
        error_messages={"required": _("Enter your name.")},
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    preferred_username = forms.CharField(
        label=_("Line username"),
        required=False,
        help_text=_("4 to 32 letters and digits."),
        # Length is checked in clean_preferred_username, with one message for every mistake.
        widget=forms.TextInput(
            attrs={
                "maxlength": "32",
                "autocomplete": "off",
                "autocapitalize": "none",
                "spellcheck": "false",
            }
        ),
    )
    preferred_password = forms.CharField(
        label=_("Line password"),
        required=False,
        strip=False,
        help_text=_(
            "8 to 32 letters and digits; you will type it on your TV. "
            "Leave empty and we create a strong one."
        ),
        widget=forms.PasswordInput(
            render_value=True, attrs={"maxlength": "32", "autocomplete": "off"}
        ),
    )
    device = forms.ChoiceField(
        label=_("Where will you watch?"),
        error_messages={"required": _("Choose where you will watch.")},
        choices=[
            (
                Order.Device.APP,
                _("An app (Smart TV, Fire TV, phone, computer) with M3U or Xtream codes"),
            ),
            (Order.Device.MAG, _("A MAG or Formuler box")),
        ],
        initial=Order.Device.APP,
        widget=forms.RadioSelect,
    )
    mac_address = forms.CharField(
        label=_("MAC address of your box"),
        required=False,
        max_length=32,
        help_text=format_lazy(
            _("Only for MAG/Formuler boxes: on the label of your box, like {example}."),
            example=MAC_EXAMPLE,
        ),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
    country = forms.ChoiceField(
        label=_("Country"),
        error_messages={"required": _("Choose your country, or Other.")},
        choices=[("", _("Choose your country")), *COUNTRIES, (OTHER_COUNTRY, _("Other"))],
        help_text=_("Where you watch: we connect you to a nearby server."),
        widget=forms.Select(attrs={"autocomplete": "country"}),
    )
    gateway = forms.ChoiceField(
        label=_("How would you like to pay?"),
        error_messages={"required": _("Choose how you would like to pay.")},
        widget=forms.RadioSelect,
    )
    coupon = forms.CharField(
        label=_("Discount code"),
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )

    def __init__(
        self,
        *args,
        plan: Plan,
        gateways: list[tuple[str, str]],
        customer: Customer | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.plan = plan
        # The page's language (the browser's Accept-Language, or the one picked in the header)
        # is offered first; the customer may pick another for their mails.
        self.fields["language"].initial = get_language()
        # A signed-in customer orders into their own account: the address is theirs, fixed.
        self.customer = customer
        if customer is not None:
            self.fields["email"].disabled = True
            self.fields["email"].initial = customer.email
            self.fields["email"].help_text = _(
                "You are signed in: this order goes to your account."
            )
            if customer.name:
                self.fields["name"].initial = customer.name
        strategy = plan.username_strategy
        if strategy == Plan.UsernameStrategy.AUTO:
            del self.fields["preferred_username"]
            del self.fields["preferred_password"]
        elif strategy == Plan.UsernameStrategy.CUSTOMER:
            self.fields["preferred_username"].required = True
            self.fields["preferred_username"].error_messages["required"] = _(
                "Choose a username for your line."
            )
            self.fields["preferred_username"].help_text = _(
                "4 to 32 letters and digits. If someone already has it, we add a few digits."
            )
        else:
            self.fields["preferred_username"].help_text = _(
                "4 to 32 letters and digits. Leave empty and we pick a readable one; "
                "if someone already has yours, we add a few digits."
            )
        # A box is offered where the plan allows one and a panel carrying it can register it.
        if not plan.allow_mag or not panels_take_devices(plan=plan):
            del self.fields["device"]
            del self.fields["mac_address"]
        if plan.is_trial:
            del self.fields["gateway"]  # a free trial: nothing to pay
        else:
            self.fields["gateway"].choices = gateways
            if len(gateways) == 1:
                self.fields["gateway"].initial = gateways[0][0]

    @property
    def asks_for_line_login(self) -> bool:
        return "preferred_username" in self.fields

    @property
    def offers_mag(self) -> bool:
        return "device" in self.fields

    @property
    def address_is_known(self) -> bool:
        """The e-mail belongs to an account: offer to sign in or to e-mail a link."""
        return any(e.code == KNOWN_ADDRESS for e in self.errors.as_data().get("email", []))

    def clean_email(self) -> str:
        email = email_normalise(self.cleaned_data["email"])
        if self.customer is None and customer_find(email=email) is not None:
            raise self.known_address_error()
        return email

    @staticmethod
    def known_address_error() -> ValidationError:
        return ValidationError(
            _(
                "You have ordered with this address before. Sign in to add this order to your "
                "account, or have a sign-in link e-mailed to you."
            ),
            code=KNOWN_ADDRESS,
        )

    def clean_name(self) -> str:
        return " ".join(self.cleaned_data["name"].split())

    def clean_preferred_username(self) -> str:
        value = self.cleaned_data["preferred_username"].strip()
        if not value:
            return ""
        return _letters_and_digits(
            value,
            message=_(
                "Use %(low)s to %(high)s characters, only letters (A–Z, a–z) and digits (0–9), "
                "for the username."
            ),
            low=4,
            high=32,
        )

    def clean_preferred_password(self) -> str:
        value = self.cleaned_data["preferred_password"]
        if not value:
            return ""
        return _letters_and_digits(
            value,
            message=_(
                "Use %(low)s to %(high)s characters, only letters (A–Z, a–z) and digits (0–9), "
                "for the line password."
            ),
            low=8,
            high=32,
        )

    def clean_mac_address(self) -> str:
        value = self.cleaned_data["mac_address"]
        if not value.strip():
            return ""
        return mac_address_normalise(value)

    def clean_country(self) -> str:
        value = self.cleaned_data["country"]
        return "" if value == OTHER_COUNTRY else value.upper()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("device") == Order.Device.MAG:
            if "mac_address" not in self.errors and not cleaned.get("mac_address"):
                self.add_error(
                    "mac_address",
                    ValidationError(
                        _(
                            "A MAG or Formuler box needs its MAC address: it is on the label "
                            "of the box, like %(example)s."
                        ),
                        code="required",
                        params={"example": MAC_EXAMPLE},
                    ),
                )
        elif "mac_address" in self.fields:
            # An address typed before switching to an app is not used, and its field is hidden,
            # so a mistake in it must not block the order.
            self.errors.pop("mac_address", None)
            cleaned["mac_address"] = ""
        return cleaned

    language = forms.ChoiceField(
        label=_("Language"),
        choices=settings.LANGUAGES,
        required=False,
        help_text=_("Your e-mails and your account come in this language."),
    )

    def checkout_data(self) -> CheckoutData:
        data = self.cleaned_data
        return CheckoutData(
            email=data["email"],
            name=data["name"],
            preferred_username=data.get("preferred_username", ""),
            preferred_password=data.get("preferred_password", ""),
            device=data.get("device", Order.Device.APP),
            mac_address=data.get("mac_address", ""),
            country=data["country"],
            gateway=data.get("gateway", ""),
            coupon=data.get("coupon", ""),
            language=data.get("language") or get_language() or settings.LANGUAGE_CODE,
        )
