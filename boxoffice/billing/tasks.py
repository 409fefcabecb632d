"""Tasks take ids and call a service, imported in the task's body: services queue tasks (they
import this module), so a module-level import here would be a cycle (the HackSoft pattern)."""

from django_tasks import task


@task()
def process_webhook_event(event_pk: int) -> str:
    from boxoffice.billing.webhooks import webhook_event_process
    from boxoffice.provisioning.engine import operation_run
    from boxoffice.provisioning.services import operations_run_inline

    # Carry the order on to its line and credentials mail in this same task instead of queueing
    # a task per operation for another pickup: one execution per unit of work. Should this task
    # die first, the operation rows are still due (or their lease runs out) and the scheduler
    # re-drives them.
    with operations_run_inline() as queued:
        result = webhook_event_process(event_pk=event_pk)
    for operation in queued:
        operation_run(operation=operation)
    return result


# The two tasks below are no longer enqueued (the mails are recorded in the transaction that owes
# them); they stay so that tasks queued before an upgrade still run, once per dedupe key.
@task()
def order_send_payment_pending(order_id: int) -> str:
    from boxoffice.billing.emails import payment_pending_email_send
    from boxoffice.billing.models import Order

    message = payment_pending_email_send(
        order=Order.objects.select_related("customer", "plan").get(pk=order_id)
    )
    return message.status


@task()
def order_send_bank_instructions(order_id: int) -> str:
    from boxoffice.billing.emails import bank_transfer_instructions_email_send
    from boxoffice.billing.models import Order
    from boxoffice.billing.services import order_payment_instructions

    order = Order.objects.select_related("customer", "plan").get(pk=order_id)
    return bank_transfer_instructions_email_send(
        order=order, instructions=order_payment_instructions(order)
    ).status
