"""Consultations with unions and workers on cross-training, and their taxonomies."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField
from simple_history.models import HistoricalRecords

from crm.models import Contact, Language, Membership, Site, Stamped, Trade, Union
from crm.timezones import (
    DATE_OUT_OF_RANGE,
    default_timezone,
    is_valid_timezone,
    shown_on_every_clock,
)

# The names the data migration seeds, marked for translation. A name still equal to its seed is
# shown translated; one an administrator renamed, or a new entry, is shown as typed.
TOPIC_NAMES = {
    "welding": gettext_noop("Welding qualification and certification"),
    "quality": gettext_noop("Quality management (AS9100 / AQAP 2110)"),
    "lean": gettext_noop("Lean production and continuous improvement"),
    "apprenticeships": gettext_noop("Apprenticeships and recognition of skills across borders"),
    "safety": gettext_noop("Occupational safety (ISO 45001)"),
    "energetics": gettext_noop("Energetics and munitions handling safety"),
    "composites": gettext_noop("Composite and additive manufacturing"),
    "cybersecurity": gettext_noop("Shop-floor cybersecurity"),
    "export-controls": gettext_noop("Export controls in cross-border training"),
    "offsets": gettext_noop("Job in-sourcing and offset protections"),
    "stanag": gettext_noop("Interoperability standards (STANAG)"),
}
CONCERN_NAMES = {
    "offshoring": gettext_noop("Job offshoring"),
    "wages": gettext_noop("Wage and conditions standards"),
    "certification": gettext_noop("Certification recognition"),
    "health-safety": gettext_noop("Health and safety"),
    "language": gettext_noop("Language barriers"),
    "clearances": gettext_noop("Security clearances"),
    "export-limits": gettext_noop("Export-control limits"),
    "recognition": gettext_noop("Union recognition"),
}


class Taxonomy(models.Model):
    slug = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=150)
    description = models.TextField(_("description"), blank=True)
    position = models.PositiveSmallIntegerField(_("position in lists"), default=0)
    active = models.BooleanField(_("offered on forms"), default=True)

    SEEDED: dict[str, str] = {}

    class Meta:
        abstract = True
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return gettext(self.name) if self.SEEDED.get(self.slug) == self.name else self.name


class Topic(Taxonomy):
    SEEDED = TOPIC_NAMES

    class Meta(Taxonomy.Meta):
        verbose_name = _("topic")
        verbose_name_plural = _("topics")


class Concern(Taxonomy):
    SEEDED = CONCERN_NAMES

    class Meta(Taxonomy.Meta):
        verbose_name = _("concern")
        verbose_name_plural = _("concerns")


class Attendance(models.Model):
    class Role(models.TextChoices):
        SPEAKER = "speaker", _("Speaker")
        PARTICIPANT = "participant", _("Participant")
        INTERPRETER = "interpreter", _("Interpreter")
        OBSERVER = "observer", _("Observer")

    consultation = models.ForeignKey(
        "Consultation", on_delete=models.CASCADE, related_name="attendances"
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="attendances")
    role = models.CharField(
        _("role"), max_length=20, choices=Role.choices, default=Role.PARTICIPANT
    )

    class Meta:
        verbose_name = _("attendance")
        verbose_name_plural = _("attendances")
        constraints = [
            models.UniqueConstraint(
                fields=["consultation", "contact"], name="outreach_attendance_once"
            ),
        ]
        indexes = [
            models.Index(fields=["contact", "consultation"], name="outreach_attendance_contact")
        ]

    def __str__(self) -> str:
        return f"{self.contact} ({self.get_role_display()})"


class Consultation(Stamped):
    class Format(models.TextChoices):
        IN_PERSON = "in_person", _("In person")
        SITE_VISIT = "site_visit", _("Site visit")
        VIDEO = "video", _("Video call")
        PHONE = "phone", _("Phone")
        CONFERENCE = "conference", _("Conference")
        EMAIL = "email", _("E-mail exchange")

    class Position(models.TextChoices):
        STRONG_SUPPORT = "strong_support", _("Strong support")
        SUPPORT = "support", _("Support")
        CONDITIONAL = "conditional_support", _("Conditional support")
        NEUTRAL = "neutral", _("Neutral")
        OPPOSED = "opposed", _("Opposed")
        NOT_DISCUSSED = "not_discussed", _("Not discussed")

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        HELD = "held", _("Held")
        CANCELLED = "cancelled", _("Cancelled")

    title = models.CharField(_("title"), max_length=200)
    starts_at = models.DateTimeField(_("starts at"), db_index=True)
    format = models.CharField(
        _("format"), max_length=20, choices=Format.choices, default=Format.IN_PERSON
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.HELD
    )
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = CountryField(_("country"), blank=True, db_index=True)
    timezone = models.CharField(
        _("local time zone"),
        max_length=64,
        blank=True,
        help_text=_(
            "Where it was held. Left blank: the country's zone, or else the zone the time was "
            "entered in."
        ),
    )
    # The calendar day where it was held: reports count a meeting at 23:30 on 31 March in
    # March wherever the reader is. Kept in step by save(), so that no report converts per row.
    held_on = models.DateField(_("local date"), editable=False)
    site = models.ForeignKey(
        Site,
        verbose_name=_("site"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="consultations",
    )
    unions = models.ManyToManyField(
        Union, verbose_name=_("unions"), blank=True, related_name="consultations"
    )
    attendees = models.ManyToManyField(
        Contact,
        verbose_name=_("attendees"),
        through=Attendance,
        blank=True,
        related_name="consultations",
    )
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff lead"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    other_staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("other staff"), blank=True, related_name="+"
    )
    languages = models.ManyToManyField(
        Language, verbose_name=_("languages used"), blank=True, related_name="+"
    )
    interpreter_present = models.BooleanField(_("interpreter present"), default=False)
    topics = models.ManyToManyField(
        Topic, verbose_name=_("topics"), blank=True, related_name="consultations"
    )
    concerns = models.ManyToManyField(
        Concern, verbose_name=_("concerns"), blank=True, related_name="consultations"
    )
    position = models.CharField(
        _("position on the proposal"),
        max_length=20,
        choices=Position.choices,
        default=Position.NOT_DISCUSSED,
    )
    summary = models.TextField(_("summary"), blank=True)
    outcomes = models.TextField(_("outcomes"), blank=True)
    commitments = models.TextField(_("commitments"), blank=True)
    # One per form rendering: a second submission of the same form finds the first consultation.
    submission_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    history = HistoricalRecords(
        m2m_fields=[unions, attendees, other_staff, languages, topics, concerns],
        excluded_fields=["submission_key"],
    )

    class Meta:
        ordering = ["-starts_at", "-id"]
        verbose_name = _("consultation")
        verbose_name_plural = _("consultations")
        permissions = [
            ("export_consultations", _("Can export consultations")),
            ("change_any_consultation", _("Can edit consultations led by others")),
            ("delete_any_consultation", _("Can delete consultations led by others")),
            ("view_reports", _("Can read the consultation reports")),
        ]
        indexes = [
            models.Index(fields=["lead", "-starts_at"], name="outreach_cons_lead_starts"),
            models.Index(fields=["status", "-starts_at"], name="outreach_cons_status_starts"),
            models.Index(fields=["status", "held_on"], name="outreach_cons_status_held"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("outreach:consultation_detail", args=[self.pk])

    def clean(self) -> None:
        if self.starts_at and not shown_on_every_clock(self.starts_at):
            # Saved, it would break the pages of staff whose clock goes past the calendar's end.
            raise ValidationError({"starts_at": ValidationError(DATE_OUT_OF_RANGE)})
        if (
            self.starts_at
            and self.starts_at > timezone.now()
            and self.status != self.Status.PLANNED
        ):
            raise ValidationError(
                {
                    "starts_at": _(
                        "A consultation in the future can only be planned: "
                        "set its status to planned."
                    )
                }
            )
        if self.site_id and self.site is not None:
            self.city = self.city or self.site.city
            self.country = self.country or self.site.country
        if self.timezone and not is_valid_timezone(self.timezone):
            raise ValidationError(
                {
                    "timezone": ValidationError(
                        _("“%(value)s” is not a time zone."), params={"value": self.timezone}
                    )
                }
            )

    def local_zone(self) -> str:
        """The zone it was held in: as recorded, else the country's only zone, else the zone
        the time was typed in (the staff member's)."""
        if self.timezone and is_valid_timezone(self.timezone):
            return self.timezone
        return (
            default_timezone(str(self.country)) if self.country else None
        ) or timezone.get_current_timezone_name()

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.starts_at is not None:
            self.held_on = self.starts_at.astimezone(ZoneInfo(self.local_zone())).date()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "held_on"}
        super().save(*args, **kwargs)


class EmailTemplate(Stamped):
    """A follow-up e-mail, written once per language (see EmailTemplateVersion)."""

    class Purpose(models.TextChoices):
        THANK_YOU = "thank_you", _("Thank you")
        NOTES = "notes", _("Meeting notes")
        NEXT_STEP = "next_step", _("Next step")
        INVITATION = "invitation", _("Invitation")
        OTHER = "other", _("Other")

    name = models.CharField(_("name"), max_length=150, unique=True)
    purpose = models.CharField(
        _("purpose"), max_length=20, choices=Purpose.choices, default=Purpose.THANK_YOU
    )
    active = models.BooleanField(_("offered when scheduling"), default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("e-mail template")
        verbose_name_plural = _("e-mail templates")

    def __str__(self) -> str:
        return self.name


class EmailTemplateVersion(models.Model):
    template = models.ForeignKey(EmailTemplate, on_delete=models.CASCADE, related_name="versions")
    language = models.ForeignKey(
        Language, verbose_name=_("language"), on_delete=models.PROTECT, related_name="+"
    )
    subject = models.CharField(_("subject"), max_length=200)
    body_text = models.TextField(_("text"))
    body_html = models.TextField(_("HTML version"), blank=True, help_text=_("Optional."))

    history = HistoricalRecords()

    class Meta:
        ordering = ["template", "language"]
        verbose_name = _("e-mail template version")
        verbose_name_plural = _("e-mail template versions")
        constraints = [
            models.UniqueConstraint(
                fields=["template", "language"], name="outreach_template_one_version_per_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.template} ({self.language_id})"

    def clean(self) -> None:
        from outreach.merge import unknown_fields

        errors = {}
        for name in ("subject", "body_text", "body_html"):
            unknown = unknown_fields(getattr(self, name))
            if unknown:
                errors[name] = _("Unknown merge fields: %(fields)s.") % {
                    "fields": ", ".join(sorted(unknown))
                }
        if errors:
            raise ValidationError(errors)


class FollowUp(models.Model):
    """An e-mail to one person, as an outbox row: scheduled, then claimed and sent by a worker."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        SUPPRESSED = "suppressed", _("Suppressed (opted out)")
        UNKNOWN = "unknown", _("Needs review")

    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), on_delete=models.PROTECT, related_name="followups"
    )
    consultation = models.ForeignKey(
        Consultation,
        verbose_name=_("consultation"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="followups",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="followups",
    )
    template = models.ForeignKey(
        EmailTemplate,
        verbose_name=_("template"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"), blank=True)
    send_at = models.DateTimeField(_("send at"))
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.SCHEDULED
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    message_id = models.CharField(_("Message-ID"), max_length=250, unique=True, editable=False)
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    sending_at = models.DateTimeField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # What was sent, as sent: the person may ask for it (and the template may change later).
    sent_language = models.CharField(_("language sent"), max_length=8, blank=True)
    sent_subject = models.CharField(_("subject sent"), max_length=250, blank=True)
    sent_body = models.TextField(_("text sent"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # One per rendering of the scheduling form: the same form sent twice schedules once.
    submission_key = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ["send_at", "id"]
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        permissions = [("view_all_followups", _("Can see everyone's follow-ups"))]
        indexes = [
            models.Index(fields=["status", "send_at"], name="outreach_followup_due"),
            models.Index(fields=["owner", "status", "send_at"], name="outreach_followup_owner"),
            models.Index(fields=["contact", "send_at"], name="outreach_followup_contact"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(template__isnull=True, subject=""),
                name="outreach_followup_template_or_subject",
                violation_error_message=_("Choose a template or write a subject."),
            ),
            # Saving a consultation again must not send its follow-up a second time.
            models.UniqueConstraint(
                fields=["consultation", "template", "contact"],
                condition=models.Q(consultation__isnull=False, template__isnull=False)
                & ~models.Q(status="cancelled"),
                name="outreach_followup_once_per_consultation",
                violation_error_message=_(
                    "This person already has this follow-up for this consultation."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact} – {self.get_status_display()}"

    @property
    def is_pending(self) -> bool:
        return self.status in {self.Status.SCHEDULED, self.Status.QUEUED}


class Digest(models.Model):
    """The weekly report e-mailed to one subscriber for one week: an outbox row like FollowUp,
    dispatched and sent by the same machinery. One row per person and week: never sent twice."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        on_delete=models.CASCADE,
        related_name="digests",
    )
    week_start = models.DateField(_("week starting"))
    send_at = models.DateTimeField(_("send at"))
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=FollowUp.Status.choices,
        default=FollowUp.Status.SCHEDULED,
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    message_id = models.CharField(_("Message-ID"), max_length=250, unique=True, editable=False)
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    sending_at = models.DateTimeField(null=True, blank=True, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    sent_subject = models.CharField(_("subject sent"), max_length=250, blank=True)
    sent_body = models.TextField(_("text sent"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["-week_start", "recipient_id"]
        verbose_name = _("weekly report e-mail")
        verbose_name_plural = _("weekly report e-mails")
        constraints = [
            models.UniqueConstraint(fields=["recipient", "week_start"], name="outreach_digest_once")
        ]
        indexes = [models.Index(fields=["status", "send_at"], name="outreach_digest_due")]

    def __str__(self) -> str:
        return f"{self.recipient} – {self.week_start:%Y-%m-%d} – {self.get_status_display()}"


class PublicComment(models.Model):
    """A comment sent through the public "Share your voice" form, by anyone, signed in or not.

    Everything but the comment is optional and stored as typed. Staff read every one, may link it
    to a contact and set the union it speaks for, and publish only what the person agreed to: the
    question they were asked and their answer are kept with the comment.
    """

    class Status(models.TextChoices):
        NEW = "new", _("New")
        REVIEWED = "reviewed", _("Reviewed")
        PUBLISHED = "published", _("Published")
        HIDDEN = "hidden", _("Hidden")
        SPAM = "spam", _("Spam")

    comment = models.TextField(_("comment"))
    name = models.CharField(_("name"), max_length=100, blank=True)
    email = models.EmailField(_("email"), blank=True)
    # The union as the person wrote it; `union` is the one staff recognised in it.
    union_name = models.CharField(_("union"), max_length=200, blank=True)
    country = CountryField(_("country"), blank=True)
    trade = models.CharField(_("trade"), max_length=30, choices=Trade.choices, blank=True)
    role = models.CharField(
        _("role in the union"), max_length=20, choices=Membership.Role.choices, blank=True
    )
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now, editable=False)

    # The consent record: the questions exactly as shown (in the language of the page) and the
    # answers given.
    consent_to_publish = models.BooleanField(_("may be published"), default=False)
    consent_question = models.TextField(_("question asked about publishing"))
    updates_opt_in = models.BooleanField(_("wants e-mail updates"), default=False)
    updates_question = models.TextField(_("question asked about e-mail updates"))

    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.NEW
    )
    union = models.ForeignKey(
        Union,
        verbose_name=_("union (as recognised by staff)"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="public_comments",
    )
    contact = models.ForeignKey(
        Contact,
        verbose_name=_("contact"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="public_comments",
    )
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("moderated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    moderated_at = models.DateTimeField(_("moderated at"), null=True, blank=True)
    moderation_note = models.TextField(_("moderation note"), blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    # The same form sent twice with the same text (a double click, a resent request) is one
    # comment: a digest of the form's signed time and the text.
    submission_key = models.CharField(
        max_length=64, null=True, blank=True, unique=True, editable=False
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("public comment")
        verbose_name_plural = _("public comments")
        permissions = [
            (
                "moderate_publiccomment",
                _("Can review, publish, hide and link public comments"),
            )
        ]
        constraints = [
            # Whatever the code path (a service, the admin, a shell), nothing is published
            # without the person's yes.
            models.CheckConstraint(
                condition=~models.Q(status="published") | models.Q(consent_to_publish=True),
                name="outreach_publiccomment_published_with_consent",
                violation_error_message=_(
                    "This comment cannot be published: the person did not agree to it."
                ),
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-received_at"], name="outreach_pubcomment_status"),
            models.Index(fields=["country", "-received_at"], name="outreach_pubcomment_country"),
        ]

    def __str__(self) -> str:
        return f"{self.name or gettext('Anonymous')} – {self.received_at:%Y-%m-%d %H:%M}"

    def get_absolute_url(self) -> str:
        return reverse("comments:detail", args=[self.pk])

    def clean(self) -> None:
        limit = settings.PUBLIC_COMMENT_MAX_LENGTH
        errors: dict[str, ValidationError] = {}
        if self.comment and len(self.comment) > limit:
            errors["comment"] = ValidationError(
                _(
                    "Your comment is %(length)s characters long; the limit is %(limit)s. "
                    "Please shorten it and send it again."
                ),
                params={
                    "length": number_format(len(self.comment), force_grouping=True),
                    "limit": number_format(limit, force_grouping=True),
                },
                code="max_length",
            )
        if self.updates_opt_in and not self.email:
            errors["email"] = ValidationError(
                _("Please give your email address so that we can send you updates."),
                code="needed_for_updates",
            )
        if errors:
            raise ValidationError(errors)


# The report's running totals, in their own module; imported so that Django sees them.
from outreach.report_models import ReportCount as ReportCount  # noqa: E402
from outreach.report_models import ReportFirstSent as ReportFirstSent  # noqa: E402
from outreach.report_models import ReportReach as ReportReach  # noqa: E402
