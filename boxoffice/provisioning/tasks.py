"""Tasks take ids and call a service, imported in the task's body: services queue tasks (they
import this module), so a module-level import here would be a cycle (the HackSoft pattern)."""

from django_tasks import task


@task()
def run_panel_operation(operation_id: int) -> str:
    from boxoffice.provisioning.engine import operation_execute

    return operation_execute(operation_id=operation_id)


@task()
def probe_panel(panel_id: int) -> str:
    from boxoffice.provisioning.reconcile import panel_probe_and_drain

    return panel_probe_and_drain(panel_id=panel_id)


@task()
def reconcile_panel_page(panel_id: int) -> str:
    from boxoffice.provisioning.drift import sweep_page_run

    return sweep_page_run(panel_id=panel_id)


@task()
def import_panel_lines(panel_id: int, plan_id: int | None = None) -> str:
    from boxoffice.provisioning.imports import lines_import_from_panel

    return str(lines_import_from_panel(panel_id=panel_id, plan_id=plan_id))


@task()
def run_reassignment_step(job_id: int) -> str:
    from boxoffice.provisioning.reassignment import reassignment_job_step

    return reassignment_job_step(job_id=job_id)
