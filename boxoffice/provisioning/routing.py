"""Checkout's pre-flight: before any money is asked for, is there a panel that can take this
plan's line for this customer now? A panel that is merely down still can (the line waits for
it); full, out of credits, disabled or without box support cannot. A refusal opens one
`SaleBlock` per plan and scope and alerts the operator once for it, not once per visitor."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from boxoffice.audit.services import audit_record
from boxoffice.messaging.services import operator_alert_send
from boxoffice.panels.services import CannotSellNow, Route, panel_route
from boxoffice.provisioning.models import SaleBlock

logger = logging.getLogger(__name__)


def sale_scope(*, country: str, device: str) -> str:
    return f"{(country or '*').upper()}:{device or 'app'}"


def order_preflight(*, plan, country: str = "", device: str = "") -> Route:
    """The route a line of `plan` would take now, or CannotSellNow (and the block recorded,
    the operator alerted once). Reads only, unless the answer changed since the last time."""
    scope = sale_scope(country=country, device=device)
    try:
        route = panel_route(plan=plan, country=country, device=device)
    except CannotSellNow as exc:
        sale_block_open(plan=plan, scope=scope, detail=str(exc))
        raise
    open_blocks = SaleBlock.objects.filter(plan=plan, scope=scope, resolved_at__isnull=True)
    if open_blocks.exists():  # a read first: most checkouts write nothing here
        for block in open_blocks:
            if SaleBlock.objects.filter(pk=block.pk, resolved_at__isnull=True).update(
                resolved_at=timezone.now()
            ):
                audit_record(subject=block, action="sale_block.resolved", data={"scope": scope})
    return route


def sale_block_open(*, plan, scope: str, detail: str) -> SaleBlock:
    """The open block for this plan and scope (created if none); alerts the operator once."""
    try:
        with transaction.atomic():
            block, created = SaleBlock.objects.get_or_create(
                plan=plan, scope=scope, resolved_at__isnull=True, defaults={"detail": detail[:2000]}
            )
    except IntegrityError:  # a concurrent checkout opened it first
        block = SaleBlock.objects.get(plan=plan, scope=scope, resolved_at__isnull=True)
        created = False
    if created:
        logger.warning("plan %s cannot be sold (%s): %s", plan.slug, scope, detail)
        audit_record(subject=block, action="sale_block.opened", data={"scope": scope})
    with transaction.atomic():
        claimed = SaleBlock.objects.filter(pk=block.pk, alerted_at__isnull=True).update(
            alerted_at=timezone.now()
        )
        if claimed:
            # The claim and the alert's rows commit together: a crash loses neither.
            operator_alert_send(
                subject=f"[{settings.SITE_NAME}] Cannot sell {plan.name} now ({scope})",
                body=(
                    f"A customer tried to buy {plan.name} ({scope}: region and device) and no "
                    f"panel can take the line now, so checkout refused before any payment.\n\n"
                    f"Why: {detail}\n\n"
                    "Add capacity or credits, enable or map another panel to the plan. You get "
                    "this alert once until the plan can be sold again for these customers.\n\n"
                    f"Back office: {settings.SITE_URL}/admin/panels/panel/\n"
                ),
                dedupe_key=f"sale-block:{block.pk}",
            )
    SaleBlock.objects.filter(pk=block.pk).update(refusals=F("refusals") + 1)
    return block
