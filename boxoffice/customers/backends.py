"""Portal sign-in: e-mail and password of a customer's own login.

Called as `authenticate(request, customer_email=…, password=…)`. Django's ModelBackend (the
back office) never answers that call, and this backend never answers the admin's
`username=` call, so the two identities stay apart.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from boxoffice.customers.models import Customer


class CustomerBackend(ModelBackend):
    def authenticate(self, request, customer_email=None, password=None, **kwargs):
        if not customer_email or password is None:
            return None
        customer = (
            Customer.objects.select_related("user")
            .filter(email=customer_email.strip().lower())
            .first()
        )
        user = customer.user if customer else None
        if user is None or user.is_staff or user.is_superuser:
            # Hash anyway, so an unknown address answers as slowly as a known one.
            get_user_model()().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def get_user(self, user_id):
        user = super().get_user(user_id)
        if user is not None and (user.is_staff or user.is_superuser):
            return None
        return user
