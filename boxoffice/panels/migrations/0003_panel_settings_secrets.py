"""The XUI One-only columns move into the kind's settings: access_code, m3u_style and
epg_style into `settings` (JSON), api_key into `secrets` (one encrypted JSON object)."""

import boxoffice.lib.crypto
import boxoffice.panels.adapters.registry
from django.db import migrations, models

PLAIN = ("access_code", "m3u_style", "epg_style")


def forwards(apps, schema_editor):
    Panel = apps.get_model("panels", "Panel")
    for panel in Panel.objects.all():
        panel.settings = {name: getattr(panel, name) for name in PLAIN}
        panel.secrets = {"api_key": panel.api_key} if panel.api_key else {}
        panel.save(update_fields=["settings", "secrets"])


def backwards(apps, schema_editor):
    Panel = apps.get_model("panels", "Panel")
    for panel in Panel.objects.all():
        panel.access_code = panel.settings.get("access_code", "")
        panel.m3u_style = panel.settings.get("m3u_style", "get_php")
        panel.epg_style = panel.settings.get("epg_style", "get_php")
        panel.api_key = panel.secrets.get("api_key", "")
        panel.save(update_fields=[*PLAIN, "api_key"])


class Migration(migrations.Migration):
    dependencies = [
        ("panels", "0002_incident_recovered_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="panel",
            name="secrets",
            field=boxoffice.lib.crypto.EncryptedJSONField(
                blank=True, default=dict, help_text="The kind's secret settings, encrypted"
            ),
        ),
        migrations.AddField(
            model_name="panel",
            name="settings",
            field=models.JSONField(blank=True, default=dict, help_text="The kind's own settings"),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(model_name="panel", name="access_code"),
        migrations.RemoveField(model_name="panel", name="api_key"),
        migrations.RemoveField(model_name="panel", name="epg_style"),
        migrations.RemoveField(model_name="panel", name="m3u_style"),
        migrations.AlterField(
            model_name="panel",
            name="kind",
            field=models.CharField(
                choices=boxoffice.panels.adapters.registry.kind_choices, max_length=30
            ),
        ),
    ]
