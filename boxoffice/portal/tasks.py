"""Tasks take arguments a queue can store and call a service, imported in the task's body (the
HackSoft pattern: callers import tasks, tasks do not pin their services at import)."""

from django_tasks import task


@task()
def sign_in_link_send(email: str, next_path: str = "") -> str:
    from boxoffice.portal.services import portal_sign_in_link_send

    return portal_sign_in_link_send(email=email, next_path=next_path)


@task()
def password_reset_send(email: str) -> str:
    from boxoffice.portal.services import portal_password_reset_send

    return portal_password_reset_send(email=email)
