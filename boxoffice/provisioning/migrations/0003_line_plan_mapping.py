"""Lines keep the plan's mapping onto their panel as reserved, in the kind's own fields: the
XUI One-only bouquets/outputs columns move into `plan_mapping`."""

from django.db import migrations, models


def forwards(apps, schema_editor):
    Line = apps.get_model("provisioning", "Line")
    for line in Line.objects.all().only("pk", "bouquets", "outputs"):
        Line.objects.filter(pk=line.pk).update(
            plan_mapping={"bouquets": list(line.bouquets or []), "outputs": list(line.outputs or [])}
        )


def backwards(apps, schema_editor):
    Line = apps.get_model("provisioning", "Line")
    for line in Line.objects.all().only("pk", "plan_mapping"):
        Line.objects.filter(pk=line.pk).update(
            bouquets=list(line.plan_mapping.get("bouquets", [])),
            outputs=list(line.plan_mapping.get("outputs", [])),
        )


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0002_worker_heartbeat"),
    ]

    operations = [
        migrations.AddField(
            model_name="line",
            name="plan_mapping",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(model_name="line", name="bouquets"),
        migrations.RemoveField(model_name="line", name="outputs"),
    ]
