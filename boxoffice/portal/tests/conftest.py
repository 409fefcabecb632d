import pytest

from boxoffice.customers.models import Customer
from boxoffice.customers.services import customer_portal_user

PASSWORD = "correct horse 42"


@pytest.fixture
def owner(db) -> Customer:
    """A customer who has signed in before and chose a password."""
    customer = Customer.objects.create(email="jane.doe@example.test", name="Jane Doe")
    user = customer_portal_user(customer=customer)
    user.set_password(PASSWORD)
    user.save()
    return customer


def signed_in_user_id(client):
    return client.session.get("_auth_user_id")
