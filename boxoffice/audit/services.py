from __future__ import annotations

from django.db import connections, models, router

from boxoffice.audit.models import AuditEvent

# The columns an audit row is written with, in order (everything but the id).
_FIELDS = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]
_insert_sql: dict[str, str] = {}


def audit_record(
    *, subject: models.Model, action: str, data: dict | None = None, actor: str = "system"
) -> AuditEvent:
    """Write one audit row. Never put secrets (passwords, keys) into `data`.

    Several are written on every order's way (paid, reserved, queued, created, active), so the
    row goes in by one INSERT compiled once per database, with each value prepared by its own
    field exactly as `save()` prepares it; no signals are sent for audit rows (none listen)."""
    event = AuditEvent(
        actor=actor,
        subject_type=subject._meta.label_lower,
        subject_id=str(subject.pk),
        action=action,
        data=data or {},
    )
    alias = router.db_for_write(AuditEvent)
    connection = connections[alias]
    sql = _insert_sql.get(connection.vendor)
    if sql is None:
        quote = connection.ops.quote_name
        # Only the model's own table and column names, quoted by the backend; values are bound.
        table = quote(AuditEvent._meta.db_table)
        columns = ", ".join(quote(f.column) for f in _FIELDS)
        placeholders = ", ".join(["%s"] * len(_FIELDS))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
        if connection.features.can_return_columns_from_insert:
            sql += f" RETURNING {quote(AuditEvent._meta.pk.column)}"
        _insert_sql[connection.vendor] = sql
    params = [f.get_db_prep_save(f.pre_save(event, True), connection) for f in _FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if connection.features.can_return_columns_from_insert:
            event.pk = cursor.fetchone()[0]
        else:
            event.pk = cursor.lastrowid
    event._state.adding, event._state.db = False, alias
    return event
