"""Records of imports: every file loaded (or previewed), and the column mappings people save."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ImportKind(models.TextChoices):
    CONTACTS = "contacts", _("Contacts")
    UNIONS = "unions", _("Unions")
    CONSULTATIONS = "consultations", _("Consultations (historical)")


class ImportJob(models.Model):
    """One uploaded file on its way through mapping, preview and import.

    The file itself waits under IMPORT_DIR (outside anything the web server serves) until the
    job is finished; the rejected rows are kept beside it as a CSV for the organizer to fix.
    """

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Waiting for the column mapping")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        PREVIEWED = "previewed", _("Previewed, waiting for confirmation")
        DONE = "done", _("Imported")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    class Source(models.TextChoices):
        WEB = "web", _("Import page")
        COMMAND = "command", _("Command line")
        ADMIN = "admin", _("Administration")

    kind = models.CharField(
        _("records"), max_length=20, choices=ImportKind.choices, default=ImportKind.CONTACTS
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.UPLOADED
    )
    # Whether the queued or running pass is the preview (a dry run) or the import itself.
    dry_run = models.BooleanField(_("preview"), default=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    file_name = models.CharField(_("file"), max_length=255)
    stored_file = models.CharField(max_length=255, blank=True, editable=False)
    file_size = models.PositiveBigIntegerField(_("size in bytes"), default=0)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    headers = models.JSONField(_("headers"), default=list, blank=True)
    mapping = models.JSONField(
        _("column mapping"), default=dict, blank=True, help_text=_("Column number -> field.")
    )
    create_unions = models.BooleanField(_("create missing unions"), default=False)
    # Kept with each consent answer the file gives (crm.ConsentRecord): what the people were asked.
    consent_question = models.TextField(_("consent question"), blank=True)
    preview = models.JSONField(_("preview"), default=dict, blank=True)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    errors_file = models.CharField(max_length=255, blank=True, editable=False)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    failure = models.TextField(_("failure"), blank=True)
    # The uploader's language: messages of a background run are written in it.
    language = models.CharField(_("language"), max_length=16, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        indexes = [models.Index(fields=["status", "started_at"], name="crm_importjob_status")]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("crm:import_detail", args=[self.pk])

    @property
    def folder(self) -> Path:
        return Path(settings.IMPORT_DIR) / str(self.pk)

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def is_active(self) -> bool:
        return self.status in {self.Status.QUEUED, self.Status.RUNNING}


class SavedMapping(models.Model):
    """A column mapping kept under a name, offered again for files with the same headers."""

    kind = models.CharField(
        _("records"), max_length=20, choices=ImportKind.choices, default=ImportKind.CONTACTS
    )
    name = models.CharField(_("name"), max_length=100)
    # Header as matched (crm.importing.headers.header_key) -> field.
    columns = models.JSONField(_("columns"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("saved at"), default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("saved column mapping")
        verbose_name_plural = _("saved column mappings")
        constraints = [
            models.UniqueConstraint(
                "kind",
                Lower("name"),
                name="crm_savedmapping_name_unique",
                violation_error_message=_("A mapping with this name exists already."),
            )
        ]

    def __str__(self) -> str:
        return self.name
