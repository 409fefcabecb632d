from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from boxoffice.lib.crypto import EncryptedTextField

# A message still owed (not sent, dropped or stopped): the outbox's look filters on exactly this
# list, so the partial index `message_owed` serves it.
OWED_STATUSES = ["queued", "failed", "sending"]


class Message(models.Model):
    """One e-mail we owe (the outbox row): what, to whom, and how delivery went.

    The row is written in the transaction that creates the obligation; the fast path hands it to
    SMTP right after commit and the worker's scheduler sends whatever is still due. `failed` is
    never final: the row is retried at `next_attempt_at` until it is sent, dropped (no longer
    true) or stopped for an operator (`needs_review`)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (will retry)"
        NEEDS_REVIEW = "needs_review", "Needs review"
        DROPPED = "dropped", "Dropped (no longer true)"

    kind = models.CharField(max_length=40, db_index=True)
    to_email = models.EmailField()
    subject = models.CharField(max_length=255)
    # Credential mail carries line passwords: bodies are encrypted at rest like the lines.
    body_text = EncryptedTextField()
    body_html = EncryptedTextField(blank=True)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Extra headers (Reply-To), kept on the row so a retry sends the same mail.
    headers = models.JSONField(default=dict, blank=True)
    # Files sent with the mail, as references the owning app turns into bytes at each attempt
    # ([{"provider": "invoice_pdf", "ref": "12"}], see `attachment_provider_register`): the
    # row stays small and a retry sends the same file.
    attachments = models.JSONField(default=list, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A sender claims the row until then; past it, a killed sender's row is due again.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Since when delivery is owed (reset by an operator's retry): the age limit counts from here.
    queued_at = models.DateTimeField(default=timezone.now)
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
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            # The outbox: only rows still owed (queued, failed, sending), a few among all sent.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=OWED_STATUSES),
                name="message_owed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_email}"


class DeliveryIncident(models.Model):
    """A period in which mail could not be delivered and messages went to the review queue. The
    operator is alerted once per incident; it closes when mail is delivered again."""

    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    alerted_at = models.DateTimeField(null=True, blank=True)
    affected_messages = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # One open incident at a time: a constant column for the partial unique constraint.
    scope = models.CharField(max_length=20, default="smtp")

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["scope"],
                condition=models.Q(resolved_at__isnull=True),
                name="one_open_delivery_incident",
            )
        ]

    def __str__(self) -> str:
        return f"mail delivery incident {self.pk} ({self.affected_messages} messages)"


class MailTemplate(models.Model):
    """The operator's own wording of one mail in one language, overriding the shipped template
    files (`<app>/email/<name>.html/.txt`) while it exists; deleting it is "reset to default".
    Saved only after it compiled and rendered on the mail's sample data (messaging/templating.py):
    a broken template never reaches a customer."""

    # The shipped template's path without extension, e.g. "provisioning/email/credentials".
    name = models.CharField(max_length=120)
    language = models.CharField(max_length=10, choices=settings.LANGUAGES)
    subject = models.CharField(max_length=255)
    html = models.TextField()
    text = models.TextField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["name", "language"], name="mailtemplate_one_per_language"
            )
        ]
        ordering = ["name", "language"]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"


class MessageTracking(models.Model):
    """Opens and clicks of one tracked (non-transactional) message: the 1x1 image and the
    redirect of `messaging/tracking.py`. Opens are over-counted by mail privacy proxies that
    fetch every image, which is why clicks are shown beside them."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="tracking")
    opens = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    first_clicked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"tracking of message {self.message_id}"


class MessageLink(models.Model):
    """A link that was in a tracked message: the click redirect goes only to these, so a forged
    or altered token can never make the site redirect anywhere else."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="links")
    number = models.PositiveSmallIntegerField()
    url = models.TextField()
    clicks = models.PositiveIntegerField(default=0)
    first_clicked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["message", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "number"], name="one_link_number_per_message"
            )
        ]

    def __str__(self) -> str:
        return f"link {self.number} of message {self.message_id}"


class AddressStatus(models.Model):
    """What mail providers told us about one address. Once `suppressed_at` is set (a hard
    bounce, a spam complaint, the provider refusing the address, repeated soft bounces) no more
    non-essential mail goes to it; transactional mail (credentials, receipts, security notices)
    still does. An operator clears it when the customer has fixed their mailbox."""

    class Reason(models.TextChoices):
        BOUNCED = "bounced", "Hard bounce"
        COMPLAINED = "complained", "Marked as spam"
        REJECTED = "rejected", "Refused by the mail provider"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed at the mail provider"
        SOFT_BOUNCES = "soft_bounces", "Repeated soft bounces"

    address = models.CharField(max_length=254, unique=True)  # lower case
    suppressed_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)
    detail = models.TextField(blank=True)  # the provider's description or the MTA's answer
    esp = models.CharField(max_length=30, blank=True)
    soft_bounces = models.PositiveIntegerField(default=0)
    last_event_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = "mail address status"
        verbose_name_plural = "mail address statuses"
        ordering = ["-last_event_at"]

    def __str__(self) -> str:
        return f"{self.address}: {self.get_reason_display() if self.suppressed_at else 'ok'}"


class ProviderEvent(models.Model):
    """One delivery event a mail provider posted (through django-anymail), recorded once: a
    provider that redelivers its webhook changes nothing the second time."""

    esp = models.CharField(max_length=30)
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=30)
    address = models.CharField(max_length=254, db_index=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    detail = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["esp", "event_id"], name="one_provider_event")
        ]

    def __str__(self) -> str:
        return f"{self.esp} {self.event_type} {self.address}"
