"""Public comments ("Share your voice") and who may moderate them (crm/roles.py is the table)."""

import django.db.models.deletion
import django.utils.timezone
import django_countries.fields
from django.conf import settings
from django.db import migrations, models

from crm.roles import sync_roles


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0010_staff_weekly_digest"),
        ("outreach", "0009_digest"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="PublicComment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("comment", models.TextField(verbose_name="comment")),
                ("name", models.CharField(blank=True, max_length=100, verbose_name="name")),
                ("email", models.EmailField(blank=True, max_length=254, verbose_name="email")),
                ("union_name", models.CharField(blank=True, max_length=200, verbose_name="union")),
                (
                    "country",
                    django_countries.fields.CountryField(
                        blank=True, max_length=2, verbose_name="country"
                    ),
                ),
                (
                    "trade",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("machinist", "Machinist"),
                            ("cnc_operator", "CNC operator"),
                            ("welder", "Welder"),
                            ("electrician", "Electrician"),
                            ("electronics_technician", "Electronics technician"),
                            ("qa_inspector", "QA inspector"),
                            ("ndt_technician", "NDT technician"),
                            ("engineer", "Engineer"),
                            ("assembler", "Assembler"),
                            ("composite_technician", "Composite technician"),
                            ("pipefitter", "Pipefitter"),
                            ("munitions_handler", "Munitions handler"),
                            ("maintenance", "Maintenance technician"),
                            ("logistics", "Logistics"),
                            ("other", "Other"),
                        ],
                        max_length=30,
                        verbose_name="trade",
                    ),
                ),
                (
                    "role",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("member", "Member"),
                            ("shop_steward", "Shop steward"),
                            ("local_officer", "Local officer"),
                            ("national_officer", "National officer"),
                            ("staff", "Union staff"),
                            ("safety_rep", "Safety representative"),
                        ],
                        max_length=20,
                        verbose_name="role in the union",
                    ),
                ),
                (
                    "language",
                    models.CharField(
                        choices=[
                            ("en", "English"),
                            ("fr", "French"),
                            ("de", "German"),
                            ("es", "Spanish"),
                            ("it", "Italian"),
                            ("pl", "Polish"),
                        ],
                        default="en",
                        max_length=8,
                        verbose_name="language",
                    ),
                ),
                (
                    "received_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now,
                        editable=False,
                        verbose_name="received at",
                    ),
                ),
                (
                    "consent_to_publish",
                    models.BooleanField(default=False, verbose_name="may be published"),
                ),
                (
                    "consent_question",
                    models.TextField(verbose_name="question asked about publishing"),
                ),
                (
                    "updates_opt_in",
                    models.BooleanField(default=False, verbose_name="wants e-mail updates"),
                ),
                (
                    "updates_question",
                    models.TextField(verbose_name="question asked about e-mail updates"),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("new", "New"),
                            ("reviewed", "Reviewed"),
                            ("published", "Published"),
                            ("hidden", "Hidden"),
                            ("spam", "Spam"),
                        ],
                        default="new",
                        max_length=10,
                        verbose_name="status",
                    ),
                ),
                (
                    "moderated_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="moderated at"),
                ),
                ("moderation_note", models.TextField(blank=True, verbose_name="moderation note")),
                (
                    "published_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="published at"),
                ),
                (
                    "submission_key",
                    models.CharField(
                        blank=True, editable=False, max_length=64, null=True, unique=True
                    ),
                ),
                (
                    "contact",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="public_comments",
                        to="crm.contact",
                        verbose_name="contact",
                    ),
                ),
                (
                    "moderated_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="moderated by",
                    ),
                ),
                (
                    "union",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="public_comments",
                        to="crm.union",
                        verbose_name="union (as recognised by staff)",
                    ),
                ),
            ],
            options={
                "verbose_name": "public comment",
                "verbose_name_plural": "public comments",
                "ordering": ["-received_at", "-id"],
                "permissions": [
                    ("moderate_publiccomment", "Can review, publish, hide and link public comments")
                ],
                "indexes": [
                    models.Index(
                        fields=["status", "-received_at"], name="outreach_pubcomment_status"
                    ),
                    models.Index(
                        fields=["country", "-received_at"], name="outreach_pubcomment_country"
                    ),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("status", "published"), _negated=True),
                            ("consent_to_publish", True),
                            _connector="OR",
                        ),
                        name="outreach_publiccomment_published_with_consent",
                        violation_error_message="This comment cannot be published: the person did not agree to it.",
                    )
                ],
            },
        ),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
