from django_tasks import task

from boxoffice.provisioning.services import operation_execute


@task()
def run_panel_operation(operation_id: int) -> str:
    return operation_execute(operation_id=operation_id)
