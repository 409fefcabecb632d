from __future__ import annotations

from django.conf import settings
from django.db import models


class Customer(models.Model):
    """A subscriber. Portal login goes through `user` (username = e-mail)."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
    )
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    locale = models.CharField(max_length=10, default="en")
    marketing_opt_in = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.email
