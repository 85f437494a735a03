"""The report permission, granted to managers and administrators (crm/roles.py is the table)."""

from django.db import migrations

from crm.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [("outreach", "0007_consultation_local_date")]

    operations = [
        migrations.AlterModelOptions(
            name="consultation",
            options={
                "ordering": ["-starts_at", "-id"],
                "permissions": [
                    ("export_consultations", "Can export consultations"),
                    ("change_any_consultation", "Can edit consultations led by others"),
                    ("delete_any_consultation", "Can delete consultations led by others"),
                    ("view_reports", "Can read the consultation reports"),
                ],
                "verbose_name": "consultation",
                "verbose_name_plural": "consultations",
            },
        ),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
