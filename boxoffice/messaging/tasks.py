"""Tasks take ids and call a service, imported in the task's body: services queue tasks (they
import this module), so a module-level import here would be a cycle (the HackSoft pattern)."""

from django_tasks import task


@task()
def send_message(message_id: int) -> str:
    """The fast path for mail owed by a web request: SMTP happens in a worker, not while the
    customer's page waits. The row is the truth: the scheduler sends it if this never runs."""
    from boxoffice.messaging.services import message_send

    return message_send(message_id=message_id)
