"""The back office's payment gateways: one GatewayAccount per kind, its declared fields
(`config_fields` of the kind's config class) as the form, secrets write-only as on panels."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldAdminTextareaWidget

from boxoffice.billing.gateways.base import GatewayConfig
from boxoffice.billing.gateways.registry import GATEWAYS, enabled_kinds
from boxoffice.billing.models import GatewayAccount
from boxoffice.lib.crypto import UnreadableSecrets
from boxoffice.panels.admin import config_form_field

COMMON_FIELDS = ["kind", "enabled", "position", "label"]


def _secret_state(instance: GatewayAccount, name: str) -> str:
    if isinstance(instance.secrets, UnreadableSecrets):
        return "cannot be decrypted (type it again)"
    return "set" if instance.pk and instance.secrets.get(name) else "not set"


class GatewayAccountForm(forms.ModelForm):
    """The common columns, plus the fields the kind's config class declares."""

    config_class: type[GatewayConfig] | None = None
    kind_name: str = ""

    class Meta:
        model = GatewayAccount
        fields = COMMON_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "kind" in self.fields:
            self.fields["kind"].help_text = (
                "Choose the kind first: its own settings below follow it once the page is "
                "saved (or opened as …/add/?kind=<kind>)."
            )
        if self.config_class is None:
            return
        same_kind = bool(self.instance.pk) and self.instance.kind == self.kind_name
        for spec in self.config_class.config_fields:
            if spec.secret:
                state = _secret_state(self.instance, spec.name) if same_kind else "not set"
                self.fields[
                    spec.name
                ].help_text = f"Stored: {state}. Leave blank to keep it. {spec.help}".strip()
            elif same_kind:
                value = self.instance.settings.get(spec.name)
                if value is not None:
                    self.initial[spec.name] = value

    def _post_clean(self):
        cls = self.config_class
        kind = self.cleaned_data.get("kind") or self.instance.kind
        if cls is not None and kind == self.kind_name:
            old = (
                GatewayAccount.objects.filter(pk=self.instance.pk).first()
                if self.instance.pk
                else None
            )
            same_kind = old is not None and old.kind == kind
            values, secrets = {}, {}
            for spec in cls.config_fields:
                value = self.cleaned_data.get(spec.name)
                if spec.secret:
                    if not value and same_kind:
                        value = old.secrets.get(spec.name)  # leave blank to keep
                    if value:
                        secrets[spec.name] = value
                elif value not in (None, ""):
                    values[spec.name] = value
            self.instance.settings = values
            if secrets or not (same_kind and isinstance(old.secrets, UnreadableSecrets)):
                self.instance.secrets = secrets
        super()._post_clean()


def _kind_of(request, obj) -> str:
    kind = request.POST.get("kind") or request.GET.get("kind") or (obj.kind if obj else "")
    return kind if kind in GATEWAYS else next(iter(GATEWAYS))


def gateway_account_form_for(kind: str) -> type[GatewayAccountForm]:
    config_class = GATEWAYS[kind].config_class
    attrs: dict = {"config_class": config_class, "kind_name": kind}
    for spec in config_class.config_fields:
        field = config_form_field(spec)
        if spec.name in config_class.multiline:
            field.widget = UnfoldAdminTextareaWidget()
        attrs[spec.name] = field
    return type(f"{config_class.__name__}AccountForm", (GatewayAccountForm,), attrs)


@admin.register(GatewayAccount)
class GatewayAccountAdmin(ModelAdmin):
    form = GatewayAccountForm
    list_display = ["kind", "label", "enabled", "position", "offered_at_checkout"]
    list_editable = ["enabled", "position"]
    ordering = ["position", "kind"]

    def get_readonly_fields(self, request, obj=None):
        # One account per kind: a saved account keeps its kind (add another for another kind).
        return ["kind"] if obj is not None else []

    def get_fieldsets(self, request, obj=None):
        kind = _kind_of(request, obj)
        names = [f.name for f in GATEWAYS[kind].config_class.config_fields]
        groups: list = [(None, {"fields": COMMON_FIELDS})]
        if names:
            groups.append((f"{GATEWAYS[kind].label} settings", {"fields": names}))
        return groups

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = gateway_account_form_for(_kind_of(request, obj))
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description="Offered at checkout", boolean=True)
    def offered_at_checkout(self, obj):
        # False for an enabled account while PAYMENT_GATEWAYS (environment) leaves it out.
        return obj.kind in enabled_kinds()
