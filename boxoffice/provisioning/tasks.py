from django_tasks import task

from boxoffice.provisioning.reconcile import panel_probe_and_drain
from boxoffice.provisioning.services import operation_execute


@task()
def run_panel_operation(operation_id: int) -> str:
    return operation_execute(operation_id=operation_id)


@task()
def probe_panel(panel_id: int) -> str:
    return panel_probe_and_drain(panel_id=panel_id)
