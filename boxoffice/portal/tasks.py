from django_tasks import task

from boxoffice.portal.services import portal_password_reset_send, portal_sign_in_link_send


@task()
def sign_in_link_send(email: str, next_path: str = "") -> str:
    return portal_sign_in_link_send(email=email, next_path=next_path)


@task()
def password_reset_send(email: str) -> str:
    return portal_password_reset_send(email=email)
