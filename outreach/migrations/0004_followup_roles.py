"""Grant the roles their follow-up permissions (crm/roles.py is the table)."""

from django.db import migrations

from crm.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [("outreach", "0003_followups")]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
