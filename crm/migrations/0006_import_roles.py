from django.db import migrations

from crm.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0005_imports"),
        ("outreach", "0006_followup_once"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
