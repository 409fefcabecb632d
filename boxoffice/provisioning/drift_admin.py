"""The back office's drift report and the actions on drift rows (repair, ignore, import).

Registered from `admin.py`. Network I/O never runs inside a transaction here: an import is a
task (`import_panel_lines`); importing one foreign line reads that line from the panel first.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from unfold.admin import ModelAdmin

from boxoffice.audit.models import AuditEvent
from boxoffice.catalog.models import Plan
from boxoffice.panels.adapters.base import PanelError
from boxoffice.panels.models import Panel
from boxoffice.provisioning.drift import DriftActionRefused, drift_ignore, drift_repair
from boxoffice.provisioning.imports import ImportRefused, line_import_one
from boxoffice.provisioning.models import LineDrift, PanelSweep
from boxoffice.provisioning.tasks import import_panel_lines

Drift = LineDrift


def drift_report_url(panel: Panel | None = None) -> str:
    url = reverse("admin:provisioning_linedrift_report")
    return f"{url}?panel={panel.pk}" if panel is not None else url


@admin.register(LineDrift)
class LineDriftAdmin(ModelAdmin):
    list_display = [
        "username",
        "panel",
        "kind",
        "status",
        "detail",
        "line",
        "first_seen_at",
        "last_seen_at",
    ]
    list_filter = ["status", "kind", "panel"]
    search_fields = ["username", "panel_line_id", "line__customer__email"]
    list_select_related = ["panel", "line"]
    readonly_fields = [
        "panel",
        "line",
        "panel_line_id",
        "username",
        "kind",
        "status",
        "ours",
        "theirs",
        "detail",
        "operation",
        "first_seen_at",
        "last_seen_at",
        "resolved_at",
    ]
    actions = ["repair", "ignore", "import_foreign"]

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        urls = [
            path(
                "report/",
                self.admin_site.admin_view(self.report_view),
                name="provisioning_linedrift_report",
            ),
            path(
                "report/import/<int:panel_id>/",
                self.admin_site.admin_view(require_POST(self.import_view)),
                name="provisioning_linedrift_import",
            ),
            path(
                "report/reconcile/<int:panel_id>/",
                self.admin_site.admin_view(require_POST(self.reconcile_now_view)),
                name="provisioning_linedrift_reconcile",
            ),
        ]
        return urls + super().get_urls()

    # --- the report ---------------------------------------------------------------------------

    def report_view(self, request):
        panels = Panel.objects.order_by("name")
        chosen = request.GET.get("panel")
        if chosen and chosen.isdigit():
            panels = panels.filter(pk=int(chosen))
        panels = list(panels)
        live = Drift.objects.filter(panel__in=panels, status__in=Drift.ACTIVE_STATUSES)
        counts: dict[int, dict[str, dict[str, int]]] = {}
        for row in live.values("panel_id", "kind", "status").annotate(n=Count("id")):
            per_kind = counts.setdefault(row["panel_id"], {}).setdefault(row["kind"], {})
            per_kind[row["status"]] = row["n"]
        sweeps = {s.panel_id: s for s in PanelSweep.objects.filter(panel__in=panels)}
        imports: dict[str, AuditEvent] = {}
        for event in AuditEvent.objects.filter(
            subject_type="panels.panel",
            subject_id__in=[str(p.pk) for p in panels],
            action="panel.lines_imported",
        ).order_by("created_at"):
            imports[event.subject_id] = event  # the latest wins
        changelist = reverse("admin:provisioning_linedrift_changelist")
        rows = []
        for panel in panels:
            kinds = []
            for kind, label in Drift.Kind.choices:
                by_status = counts.get(panel.pk, {}).get(kind, {})
                kinds.append(
                    {
                        "kind": kind,
                        "label": label,
                        "open": by_status.get(Drift.Status.OPEN, 0),
                        "repairing": by_status.get(Drift.Status.REPAIRING, 0),
                        "ignored": by_status.get(Drift.Status.IGNORED, 0),
                        "url": f"{changelist}?panel__id__exact={panel.pk}&kind__exact={kind}",
                    }
                )
            kind_class = panel.kind_class
            rows.append(
                {
                    "panel": panel,
                    "sweep": sweeps.get(panel.pk),
                    "kinds": kinds,
                    "total_open": sum(k["open"] for k in kinds),
                    "can_list": bool(kind_class and kind_class.capabilities.can("list_lines")),
                    "kind_label": kind_class.label if kind_class else panel.kind,
                    "last_import": imports.get(str(panel.pk)),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Reconciliation: our lines against the panels'",
            "rows": rows,
            "plans": Plan.objects.filter(active=True).order_by("name"),
            "opts": self.model._meta,
            "changelist_url": changelist,
        }
        return TemplateResponse(request, "provisioning/admin/drift_report.html", context)

    def import_view(self, request, panel_id: int):
        panel = get_object_or_404(Panel, pk=panel_id)
        plan_id = request.POST.get("plan") or None
        if plan_id and not Plan.objects.filter(pk=plan_id).exists():
            self.message_user(request, "Choose an existing plan.", messages.ERROR)
            return redirect(drift_report_url(panel))
        kind = panel.kind_class
        if kind is None or not kind.capabilities.can("list_lines"):
            self.message_user(
                request, f"{panel.name}: this kind of panel cannot list its lines.", messages.ERROR
            )
            return redirect(drift_report_url(panel))
        transaction.on_commit(
            lambda: import_panel_lines.enqueue(panel.pk, int(plan_id) if plan_id else None)
        )
        self.message_user(
            request,
            f"Importing the lines of {panel.name} in the background; nothing is changed on the "
            "panel. The result appears here when it is done.",
            messages.SUCCESS,
        )
        return redirect(drift_report_url(panel))

    def reconcile_now_view(self, request, panel_id: int):
        panel = get_object_or_404(Panel, pk=panel_id)
        PanelSweep.objects.update_or_create(panel=panel, defaults={"next_page_at": timezone.now()})
        self.message_user(
            request, f"{panel.name}: the next page of its pass is read now.", messages.SUCCESS
        )
        return redirect(drift_report_url(panel))

    # --- actions on drift rows ----------------------------------------------------------------

    @admin.action(description="Repair: make the panel match our record")
    def repair(self, request, queryset):
        done, refused = 0, []
        for drift in queryset.select_related("line", "panel"):
            try:
                drift_repair(drift=drift, actor=request.user.get_username())
                done += 1
            except DriftActionRefused as exc:
                refused.append(f"{drift.username}: {exc}")
        if done:
            self.message_user(request, f"{done} repairs queued.", messages.SUCCESS)
        for text in refused[:10]:
            self.message_user(request, text, messages.WARNING)

    @admin.action(description="Ignore: leave it as it is")
    def ignore(self, request, queryset):
        for drift in queryset.filter(status=Drift.Status.OPEN).select_related("panel"):
            drift_ignore(drift=drift, actor=request.user.get_username())
        self.message_user(request, "Ignored; later passes keep them ignored.", messages.SUCCESS)

    @admin.action(description="Import: make a foreign line ours")
    def import_foreign(self, request, queryset):
        imported, problems = 0, []
        foreign = queryset.filter(kind=Drift.Kind.FOREIGN, status__in=Drift.ACTIVE_STATUSES)
        for drift in foreign.select_related("panel")[:50]:
            try:
                report = line_import_one(panel=drift.panel, panel_line_id=drift.panel_line_id)
            except (PanelError, ImportRefused) as exc:
                problems.append(f"{drift.username}: {exc}")
                continue
            imported += report.created
            problems += report.problems
        if imported:
            self.message_user(request, f"{imported} lines imported.", messages.SUCCESS)
        for text in problems[:10]:
            self.message_user(request, text, messages.WARNING)
        if not imported and not problems:
            self.message_user(request, "Only lines on the panel we never sold can be imported.")
