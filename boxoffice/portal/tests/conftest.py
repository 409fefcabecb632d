import re

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


def press_sign_in(client, **extra):
    """Press the button on the confirm page a sign-in link leads to, as a browser would: with
    the code the page carries."""
    page = client.get("/portal/magic/confirm/")
    if page.status_code != 200:
        return page
    code = re.search(rb'name="confirm" value="([0-9a-f]+)"', page.content).group(1).decode()
    return client.post(
        "/portal/magic/confirm/", {"confirm": code, **extra.pop("data", {})}, **extra
    )
