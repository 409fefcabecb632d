from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import translation
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin

from boxoffice.messaging.emails import (
    mail_template_preview,
    mail_template_reset,
    mail_template_save,
)
from boxoffice.messaging.models import AddressStatus, MailTemplate, Message
from boxoffice.messaging.provider_events import address_suppression_clear
from boxoffice.messaging.templating import (
    SITE_VARIABLES,
    MailDefinition,
    MailTemplateInvalid,
    mail_definition,
    mail_definitions,
    shipped_source,
)


@admin.register(Message)
class MessageAdmin(ModelAdmin):
    list_display = ["created_at", "kind", "to_email", "subject", "status", "attempts"]
    list_filter = ["kind", "status"]
    search_fields = ["to_email", "subject"]
    exclude = ["body_text", "body_html"]  # credential mail carries passwords
    readonly_fields = [
        "kind",
        "to_email",
        "subject",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "queued_at",
        "lease_expires_at",
        "headers",
        "dedupe_key",
        "customer",
        "order",
        "line",
        "created_at",
        "sent_at",
    ]

    def has_add_permission(self, request):
        return False


class MailTemplateForm(forms.Form):
    subject = forms.CharField(max_length=255)
    html = forms.CharField(label="HTML", widget=forms.Textarea(attrs={"rows": 22}))
    text = forms.CharField(label="Plain text", widget=forms.Textarea(attrs={"rows": 22}))


@admin.register(MailTemplate)
class MailTemplateAdmin(ModelAdmin):
    """Every registered mail in every language, its wording editable beside a live preview on
    sample data; the list is the registry's, not the table's (a mail nobody edited is listed
    with its shipped wording)."""

    # The stored overrides, read-only here: they are written only through the editor, which
    # checks them first. The editor's index lists every mail, edited or not.
    list_display = ["name", "language", "subject", "updated_by", "updated_at"]
    readonly_fields = ["name", "language", "subject", "html", "text", "updated_by", "updated_at"]

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("mails/", view(self.index_view), name="messaging_mailtemplate_mails"),
            path(
                "preview/",
                view(require_POST(self.preview_view)),
                name="messaging_mailtemplate_preview",
            ),
            path(
                "mails/<str:language>/<path:name>/",
                view(self.edit_view),
                name="messaging_mailtemplate_edit",
            ),
            *super().get_urls(),
        ]

    def _check(self, request: HttpRequest) -> None:
        if not self.has_change_permission(request):
            raise PermissionDenied

    def index_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        edited = set(MailTemplate.objects.values_list("name", "language"))
        rows = [
            {
                "definition": definition,
                "languages": [
                    {"code": code, "name": lang, "edited": (definition.name, code) in edited}
                    for code, lang in settings.LANGUAGES
                ],
            }
            for definition in mail_definitions()
        ]
        context = {**self.admin_site.each_context(request), "title": "Mail templates", "rows": rows}
        return TemplateResponse(request, "messaging/admin/mail_templates.html", context)

    def _definition(self, name: str, language: str) -> MailDefinition:
        definition = mail_definition(name)
        if definition is None or language not in dict(settings.LANGUAGES):
            raise Http404("No such mail")
        return definition

    def edit_view(self, request: HttpRequest, language: str, name: str) -> HttpResponse:
        self._check(request)
        definition = self._definition(name, language)
        override = MailTemplate.objects.filter(name=name, language=language).first()
        problem = None
        if request.method == "POST" and request.POST.get("action") == "reset":
            if mail_template_reset(name=name, language=language):
                messages.success(request, "Back to the shipped wording.")
            return redirect(request.path)
        if request.method == "POST":
            form = MailTemplateForm(request.POST)
            if form.is_valid():
                try:
                    mail_template_save(
                        definition=definition,
                        language=language,
                        user=request.user,
                        **form.cleaned_data,
                    )
                except MailTemplateInvalid as exc:
                    problem = exc.problem
                    form.add_error(None, f"Not saved. {exc.problem}")
                else:
                    messages.success(request, "Saved: this wording is used from now on.")
                    return redirect(request.path)
        elif override is not None:
            form = MailTemplateForm(
                initial={"subject": override.subject, "html": override.html, "text": override.text}
            )
        else:
            with translation.override(language):
                default_subject = str(definition.subject)
            form = MailTemplateForm(
                initial={
                    "subject": default_subject,
                    "html": shipped_source(name, "html"),
                    "text": shipped_source(name, "txt"),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{definition.label} ({dict(settings.LANGUAGES)[language]})",
            "definition": definition,
            "language": language,
            "form": form,
            "problem": problem,
            "override": override,
            "variables": [*SITE_VARIABLES, *definition.variables],
            "preview_url": reverse("admin:messaging_mailtemplate_preview"),
            "index_url": reverse("admin:messaging_mailtemplate_mails"),
        }
        return TemplateResponse(request, "messaging/admin/mail_template_edit.html", context)

    def preview_view(self, request: HttpRequest) -> JsonResponse:
        """The wording being typed, rendered on sample data (JSON), or where and why not."""
        self._check(request)
        definition = self._definition(
            request.POST.get("name", ""), request.POST.get("language", "")
        )
        form = MailTemplateForm(request.POST)
        if not form.is_valid():
            return JsonResponse({"error": "Subject, HTML and text are all required."}, status=400)
        try:
            rendered = mail_template_preview(
                definition=definition, language=request.POST["language"], **form.cleaned_data
            )
        except MailTemplateInvalid as exc:
            problem = exc.problem
            return JsonResponse(
                {
                    "error": str(problem),
                    "part": problem.part,
                    "line": problem.line,
                    "reason": problem.reason,
                },
                status=400,
            )
        return JsonResponse(
            {"subject": rendered.subject, "html": rendered.html, "text": rendered.text}
        )


@admin.register(AddressStatus)
class AddressStatusAdmin(ModelAdmin):
    """Addresses a mail provider reported (bounces, complaints): what stopped and why."""

    list_display = ["address", "suppressed_at", "reason", "esp", "soft_bounces", "last_event_at"]
    list_filter = ["reason", "esp"]
    search_fields = ["address"]
    readonly_fields = [
        "address",
        "suppressed_at",
        "reason",
        "detail",
        "esp",
        "soft_bounces",
        "last_event_at",
        "cleared_at",
        "cleared_by",
    ]
    actions = ["clear"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Let non-essential mail go to these addresses again")
    def clear(self, request, queryset):
        actor = request.user.get_username()
        cleared = sum(
            address_suppression_clear(address=status.address, actor=actor) for status in queryset
        )
        self.message_user(request, f"{cleared} address(es) cleared.")
