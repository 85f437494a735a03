from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import migrations, models

from crm.timezones import default_timezone


def held_on_fill(apps, schema_editor):
    Consultation = apps.get_model("outreach", "Consultation")
    rows = Consultation.objects.only("pk", "starts_at", "country")
    for consultation in rows.iterator(chunk_size=2000):
        zone = (
            default_timezone(str(consultation.country)) if consultation.country else None
        ) or settings.TIME_ZONE
        consultation.held_on = consultation.starts_at.astimezone(ZoneInfo(zone)).date()
        consultation.save(update_fields=["held_on"])


class Migration(migrations.Migration):
    dependencies = [("outreach", "0006_followup_once")]

    operations = [
        migrations.AddField(
            model_name="consultation",
            name="timezone",
            field=models.CharField(
                blank=True,
                help_text="Where it was held. Left blank: the country's zone, or else the zone "
                "the time was entered in.",
                max_length=64,
                verbose_name="local time zone",
            ),
        ),
        migrations.AddField(
            model_name="historicalconsultation",
            name="timezone",
            field=models.CharField(
                blank=True,
                help_text="Where it was held. Left blank: the country's zone, or else the zone "
                "the time was entered in.",
                max_length=64,
                verbose_name="local time zone",
            ),
        ),
        migrations.AddField(
            model_name="consultation",
            name="held_on",
            field=models.DateField(editable=False, null=True, verbose_name="local date"),
        ),
        migrations.AddField(
            model_name="historicalconsultation",
            name="held_on",
            field=models.DateField(editable=False, null=True, verbose_name="local date"),
        ),
        migrations.RunPython(held_on_fill, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="consultation",
            name="held_on",
            field=models.DateField(editable=False, verbose_name="local date"),
        ),
        migrations.AlterField(
            model_name="historicalconsultation",
            name="held_on",
            field=models.DateField(editable=False, verbose_name="local date"),
        ),
        migrations.AddIndex(
            model_name="consultation",
            index=models.Index(fields=["status", "held_on"], name="outreach_cons_status_held"),
        ),
    ]
