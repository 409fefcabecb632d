from django_tasks import task

from boxoffice.messaging.services import message_send


@task()
def send_message(message_id: int) -> str:
    """The fast path for mail owed by a web request: SMTP happens in a worker, not while the
    customer's page waits. The row is the truth: the scheduler sends it if this never runs."""
    return message_send(message_id=message_id)
