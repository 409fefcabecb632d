"""PlanPanel's XUI-only bouquets/outputs columns move into `mapping` (the kind's plan fields)."""

from django.db import migrations, models


def forwards(apps, schema_editor):
    PlanPanel = apps.get_model("catalog", "PlanPanel")
    for row in PlanPanel.objects.all():
        row.mapping = {"bouquets": list(row.bouquets or []), "outputs": list(row.outputs or [])}
        row.save(update_fields=["mapping"])


def backwards(apps, schema_editor):
    PlanPanel = apps.get_model("catalog", "PlanPanel")
    for row in PlanPanel.objects.all():
        row.bouquets = list(row.mapping.get("bouquets", []))
        row.outputs = list(row.mapping.get("outputs", []))
        row.save(update_fields=["bouquets", "outputs"])


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="planpanel",
            name="mapping",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text='The kind\'s plan fields, e.g. {"bouquets": [1, 2]}',
            ),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(model_name="planpanel", name="bouquets"),
        migrations.RemoveField(model_name="planpanel", name="outputs"),
    ]
