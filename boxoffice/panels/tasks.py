"""Tasks take ids and call a service, imported in the task's body (the HackSoft pattern)."""

from django_tasks import task


@task()
def refresh_panel_credits(panel_id: int) -> str:
    from boxoffice.panels.credits import panel_credits_refresh
    from boxoffice.panels.models import Panel

    panel = Panel.objects.filter(pk=panel_id).first()
    if panel is None:
        return "gone"
    balance = panel_credits_refresh(panel=panel)
    return "unknown" if balance is None else str(balance.credits)


@task()
def sync_panel_catalog(panel_id: int) -> str:
    from boxoffice.panels.credits import panel_credits_refresh
    from boxoffice.panels.models import Panel
    from boxoffice.panels.panel_catalog import panel_catalog_sync

    panel = Panel.objects.filter(pk=panel_id).first()
    if panel is None:
        return "gone"
    catalog = panel_catalog_sync(panel=panel)
    panel_credits_refresh(panel=panel)  # the costs just synced may change the alert threshold
    return catalog.get("error") or "synced"
