"""Seed the cross-training topics and the concerns, and grant the roles their outreach permissions."""

from django.db import migrations

from crm.roles import sync_roles

TOPICS = [
    ("welding", "Welding qualification and certification"),
    ("quality", "Quality management (AS9100 / AQAP 2110)"),
    ("lean", "Lean production and continuous improvement"),
    ("apprenticeships", "Apprenticeships and recognition of skills across borders"),
    ("safety", "Occupational safety (ISO 45001)"),
    ("energetics", "Energetics and munitions handling safety"),
    ("composites", "Composite and additive manufacturing"),
    ("cybersecurity", "Shop-floor cybersecurity"),
    ("export-controls", "Export controls in cross-border training"),
    ("offsets", "Job in-sourcing and offset protections"),
    ("stanag", "Interoperability standards (STANAG)"),
]
CONCERNS = [
    ("offshoring", "Job offshoring"),
    ("wages", "Wage and conditions standards"),
    ("certification", "Certification recognition"),
    ("health-safety", "Health and safety"),
    ("language", "Language barriers"),
    ("clearances", "Security clearances"),
    ("export-limits", "Export-control limits"),
    ("recognition", "Union recognition"),
]


def seed(apps, schema_editor):
    for model_name, rows in (("Topic", TOPICS), ("Concern", CONCERNS)):
        model = apps.get_model("outreach", model_name)
        for position, (slug, name) in enumerate(rows):
            model.objects.update_or_create(slug=slug, defaults={"name": name, "position": position})


class Migration(migrations.Migration):
    dependencies = [
        ("outreach", "0001_initial"),
        ("crm", "0004_staff_profile"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
