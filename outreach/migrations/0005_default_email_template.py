"""A first follow-up template, in the campaign's main languages; administrators edit or add more."""

from django.db import migrations

NAME = "Thank you after a consultation"
VERSIONS = {
    "en": (
        "Thank you for meeting us, {{ first_name }}",
        "Dear {{ full_name }},\n\nThank you for taking the time to meet us ({{ consultation_title }}, "
        "{{ consultation_date }}). We will share the notes and the next steps of the consultation on "
        "cross-training in defense manufacturing soon.\n\nKind regards,\n{{ sender_name }}",
    ),
    "fr": (
        "Merci pour notre rencontre, {{ first_name }}",
        "Bonjour {{ full_name }},\n\nMerci d'avoir pris le temps de nous rencontrer ({{ consultation_title }}, "
        "{{ consultation_date }}). Nous vous ferons parvenir prochainement le compte rendu et les prochaines "
        "étapes de la consultation sur la formation croisée dans l'industrie de défense.\n\nCordialement,\n"
        "{{ sender_name }}",
    ),
    "de": (
        "Vielen Dank für das Gespräch, {{ first_name }}",
        "Guten Tag {{ full_name }},\n\nvielen Dank, dass Sie sich Zeit für uns genommen haben "
        "({{ consultation_title }}, {{ consultation_date }}). Das Protokoll und die nächsten Schritte der "
        "Konsultation zur gegenseitigen Weiterbildung in der Verteidigungsindustrie folgen in Kürze.\n\n"
        "Mit freundlichen Grüßen\n{{ sender_name }}",
    ),
    "pl": (
        "Dziękujemy za spotkanie, {{ first_name }}",
        "Szanowni Państwo, {{ full_name }},\n\ndziękujemy za poświęcony nam czas ({{ consultation_title }}, "
        "{{ consultation_date }}). Wkrótce prześlemy notatki oraz kolejne kroki konsultacji dotyczącej "
        "wspólnych szkoleń w przemyśle obronnym.\n\nZ poważaniem\n{{ sender_name }}",
    ),
    "es": (
        "Gracias por la reunión, {{ first_name }}",
        "Estimado/a {{ full_name }}:\n\nGracias por dedicarnos su tiempo ({{ consultation_title }}, "
        "{{ consultation_date }}). En breve le enviaremos las notas y los próximos pasos de la consulta sobre "
        "la formación cruzada en la industria de defensa.\n\nAtentamente,\n{{ sender_name }}",
    ),
    "it": (
        "Grazie per l'incontro, {{ first_name }}",
        "Gentile {{ full_name }},\n\ngrazie per il tempo che ci ha dedicato ({{ consultation_title }}, "
        "{{ consultation_date }}). A breve le invieremo il resoconto e i prossimi passi della consultazione "
        "sulla formazione incrociata nell'industria della difesa.\n\nCordiali saluti,\n{{ sender_name }}",
    ),
}


def add(apps, schema_editor):
    template_model = apps.get_model("outreach", "EmailTemplate")
    version_model = apps.get_model("outreach", "EmailTemplateVersion")
    template, _created = template_model.objects.get_or_create(
        name=NAME, defaults={"purpose": "thank_you"}
    )
    for code, (subject, body) in VERSIONS.items():
        version_model.objects.get_or_create(
            template=template, language_id=code, defaults={"subject": subject, "body_text": body}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("outreach", "0004_followup_roles"),
        ("crm", "0002_reference_data_search_roles"),
    ]

    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
