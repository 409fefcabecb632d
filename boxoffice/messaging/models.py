from __future__ import annotations

from django.db import models
from django.utils import timezone

from boxoffice.lib.crypto import EncryptedTextField


class Message(models.Model):
    """One e-mail we send (or tried to): what, to whom, and how delivery went."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=40, db_index=True)
    to_email = models.EmailField()
    subject = models.CharField(max_length=255)
    # Credential mail carries line passwords: bodies are encrypted at rest like the lines.
    body_text = EncryptedTextField()
    body_html = EncryptedTextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Makes "send this once" a database fact: e.g. credentials:line:12, delay:order:5.
    dedupe_key = models.CharField(max_length=120, unique=True, null=True, blank=True)
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
    )
    order = models.ForeignKey(
        "billing.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    line = models.ForeignKey(
        "provisioning.Line",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_email}"
