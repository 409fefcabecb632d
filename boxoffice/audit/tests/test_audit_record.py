"""`audit_record` writes its row by a precompiled INSERT: what it stores must be exactly what the
ORM stores for the same event, and the object it returns must be the stored row."""

from __future__ import annotations

import pytest
from django.utils import timezone

from boxoffice.audit.models import AuditEvent
from boxoffice.audit.services import audit_record

DATA = {"order": "BX-1", "amount": "9.99", "nested": {"list": [1, 2.5, None, True]}, "ü": "✓"}


def _stored(pk: int) -> dict:
    row = AuditEvent.objects.filter(pk=pk).values().get()
    row.pop("id")
    return row


@pytest.mark.django_db
def test_it_stores_what_the_orm_stores(customer):
    before = timezone.now()

    event = audit_record(subject=customer, action="customer.tested", data=DATA, actor="op:ann")

    orm = AuditEvent.objects.create(
        actor="op:ann",
        subject_type="customers.customer",
        subject_id=str(customer.pk),
        action="customer.tested",
        data=DATA,
    )
    fast, slow = _stored(event.pk), _stored(orm.pk)
    assert before <= fast.pop("created_at") <= slow.pop("created_at")
    assert fast == slow
    assert fast["data"] == DATA


@pytest.mark.django_db
def test_it_returns_the_stored_row_with_its_id(customer):
    first = audit_record(subject=customer, action="customer.one")
    second = audit_record(subject=customer, action="customer.two", data=None)

    assert second.pk > first.pk
    assert AuditEvent.objects.get(pk=second.pk).action == "customer.two"
    assert AuditEvent.objects.get(pk=second.pk).data == {}
    assert AuditEvent.objects.get(pk=first.pk).created_at == first.created_at
    assert not second._state.adding
