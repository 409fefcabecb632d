"""Status-page tokens stored as hashes (the token is derived from the reference with SECRET_KEY,
so links already sent stop working once, at this upgrade), and the name typed on each order."""

from django.db import migrations, models


def hash_tokens(apps, schema_editor):
    from boxoffice.billing.models import order_status_token, status_token_hash

    Order = apps.get_model("billing", "Order")
    for order in Order.objects.select_related("customer").iterator():
        order.status_token_hash = status_token_hash(order_status_token(order.reference))
        order.name = order.customer.name
        order.save(update_fields=["status_token_hash", "name"])


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_initial"),
        ("customers", "0001_initial"),
    ]

    operations = [
        migrations.RemoveField(model_name="order", name="public_token"),
        migrations.AddField(
            model_name="order",
            name="name",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AddField(
            model_name="order",
            name="status_token_hash",
            field=models.CharField(blank=True, max_length=64, null=True, unique=True),
        ),
        migrations.RunPython(hash_tokens, migrations.RunPython.noop),
    ]
