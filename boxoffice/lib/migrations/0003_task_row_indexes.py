"""Indexes on django-tasks-db's task table for our two looks at it (lib/tasks.py): the re-drives'
"is this one queued or running already?" and the pruning of finished rows. The table is the
package's, so these are plain SQL (the same on SQLite and PostgreSQL)."""

from django.db import migrations

TABLE = "django_tasks_database_dbtaskresult"

class Migration(migrations.Migration):
    dependencies = [
        ("lib", "0002_rate_counter"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [
        # Live rows only (queued or running): a re-drive's look stays as small as the queue.
        migrations.RunSQL(
            f"CREATE INDEX task_live_by_path ON {TABLE} (task_path, status)"
            " WHERE status IN ('READY', 'RUNNING')",
            "DROP INDEX task_live_by_path",
        ),
        migrations.RunSQL(
            f"CREATE INDEX task_finished ON {TABLE} (status, finished_at)",
            "DROP INDEX task_finished",
        ),
    ]
