from django.db import models


class AuditEvent(models.Model):
    """An append-only record of a state change that matters (order, payment, line, operation)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150, default="system")
    subject_type = models.CharField(max_length=50)
    subject_id = models.CharField(max_length=50)
    action = models.CharField(max_length=80)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["subject_type", "subject_id", "created_at"])]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.subject_type}#{self.subject_id} {self.action}"
