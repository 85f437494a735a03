"""Reference data (sectors, languages), the trigram search index and the four roles."""

from django.conf.locale import LANG_INFO
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

from crm.roles import sync_roles, unsync_roles

SECTORS = [
    ("aerospace", "Aerospace"),
    ("shipbuilding", "Shipbuilding"),
    ("land-systems", "Land systems"),
    ("munitions", "Munitions"),
    ("electronics", "Electronics"),
    ("materials", "Materials"),
    ("other", "Other"),
]


def add_reference_data(apps, schema_editor):
    sector_model = apps.get_model("crm", "Sector")
    for position, (slug, name) in enumerate(SECTORS):
        sector_model.objects.update_or_create(
            slug=slug, defaults={"name": name, "position": position}
        )
    language_model = apps.get_model("crm", "Language")
    for code, info in sorted(LANG_INFO.items()):
        if len(code) == 2 and "name" in info:
            language_model.objects.update_or_create(code=code, defaults={"name": info["name"]})


# GIN trigram indexes serve `LIKE '%term%'` on the folded search columns. PostgreSQL only: the
# embedded SQLite mode scans, which is fine at its size. Not in Meta.indexes for that reason.
TRIGRAM_INDEXES = {
    "crm_contact_search_trgm": "crm_contact",
    "crm_union_search_trgm": "crm_union",
}


def add_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table in TRIGRAM_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (search_text gin_trgm_ops)"
        )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        TrigramExtension(),
        migrations.RunPython(add_reference_data, migrations.RunPython.noop),
        migrations.RunPython(add_trigram_indexes, drop_trigram_indexes),
        migrations.RunPython(sync_roles, unsync_roles),
    ]
