from typing import Any

from django.db import migrations

# Room left in each page of crm_contact for new versions of its rows. An import may update a
# large share of the contacts at once (the benchmark's file: 40 % of them, spread over every
# page); with 15 % free (0016) half of those updates found no room in their page, left it and
# added an entry to each of the table's eight indexes, the trigram one included. With 40 % free
# they all stay in place (PostgreSQL's heap-only tuples), and PostgreSQL's CPU time for that
# import drops by a sixth (bench/imports.py). The table grows: 47 MB -> 59 MB for 100,000
# contacts, measured.
FILLFACTOR = 60
BEFORE = 85


def _fillfactor(apps: Any, schema_editor: Any, value: int) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE crm_contact SET (fillfactor = {int(value)})")


def room_left(apps: Any, schema_editor: Any) -> None:
    _fillfactor(apps, schema_editor, FILLFACTOR)


def room_before(apps: Any, schema_editor: Any) -> None:
    _fillfactor(apps, schema_editor, BEFORE)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0016_contact_updates_in_place"),
    ]

    # Pages written from now on keep the room; VACUUM FULL crm_contact gives it to the others.
    operations = [migrations.RunPython(room_left, room_before)]
