from __future__ import annotations

from django.db import models

from boxoffice.audit.models import AuditEvent


def audit_record(
    *, subject: models.Model, action: str, data: dict | None = None, actor: str = "system"
) -> AuditEvent:
    """Write one audit row. Never put secrets (passwords, keys) into `data`."""
    return AuditEvent.objects.create(
        actor=actor,
        subject_type=subject._meta.label_lower,
        subject_id=str(subject.pk),
        action=action,
        data=data or {},
    )
