"""Core records: unions, employers and their sites, contacts and their union memberships."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language_info, gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from django_countries import countries
from django_countries.fields import CountryField
from simple_history.models import HistoricalRecords

from crm.text import fold
from crm.timezones import default_timezone, is_valid_timezone

# The names the data migration seeds, marked for translation: shown translated while unchanged.
SECTOR_NAMES = {
    "aerospace": gettext_noop("Aerospace"),
    "shipbuilding": gettext_noop("Shipbuilding"),
    "land-systems": gettext_noop("Land systems"),
    "munitions": gettext_noop("Munitions"),
    "electronics": gettext_noop("Electronics"),
    "materials": gettext_noop("Materials"),
    "other": gettext_noop("Other"),
}


class Sector(models.Model):
    """Defense-manufacturing sector (aerospace, shipbuilding, …), seeded by a data migration."""

    slug = models.SlugField(_("code"), primary_key=True, max_length=40)
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(_("position in lists"), default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("sector")
        verbose_name_plural = _("sectors")

    def __str__(self) -> str:
        return gettext(self.name) if SECTOR_NAMES.get(self.slug) == self.name else self.name


class Language(models.Model):
    """A language by ISO 639-1 code; the code is the key so that rows read naturally."""

    code = models.CharField(_("code"), primary_key=True, max_length=8)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        ordering = ["name"]
        verbose_name = _("language")
        verbose_name_plural = _("languages")

    def __str__(self) -> str:
        try:
            return str(get_language_info(self.code)["name_translated"])
        except KeyError:
            return self.name


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=60)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="crm_tag_name_ci_unique",
                violation_error_message=_("This tag exists already."),
            )
        ]

    def __str__(self) -> str:
        return self.name


class Stamped(models.Model):
    """Who created and last changed a record, and when.

    Who created or changed a record is shown, never searched for: an index of either would cost
    every write (a bulk import most) and serve only a user's deletion, which can scan.
    """

    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        db_index=False,
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("updated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        db_index=False,
    )

    class Meta:
        abstract = True


class Union(Stamped):
    class Kind(models.TextChoices):
        GLOBAL_FEDERATION = "global_federation", _("Global union federation")
        NATIONAL_CENTRE = "national_centre", _("National centre")
        NATIONAL_UNION = "national_union", _("National union")
        LOCAL = "local", _("Local")

    name = models.CharField(_("name"), max_length=200)
    acronym = models.CharField(_("acronym"), max_length=50, blank=True)
    country = CountryField(
        _("country"), blank=True, help_text=_("Leave empty for a global federation.")
    )
    kind = models.CharField(
        _("kind"), max_length=20, choices=Kind.choices, default=Kind.NATIONAL_UNION
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("national union"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="locals",
        help_text=_("For a local: the national union it belongs to."),
    )
    affiliations = models.ManyToManyField(
        "self",
        verbose_name=_("affiliated to"),
        symmetrical=False,
        blank=True,
        related_name="affiliates",
        help_text=_("Global federations and national centres this union is affiliated to."),
    )
    sectors = models.ManyToManyField(
        Sector, verbose_name=_("sectors"), blank=True, related_name="unions"
    )
    membership_size = models.PositiveIntegerField(_("membership size"), null=True, blank=True)
    website = models.URLField(_("website"), blank=True)
    languages = models.ManyToManyField(
        Language, verbose_name=_("languages"), blank=True, related_name="+"
    )
    notes = models.TextField(_("notes"), blank=True)
    # Folded name and acronym (crm.text.fold), kept by save().
    search_text = models.TextField(editable=False, default="")

    history = HistoricalRecords(
        m2m_fields=[affiliations, sectors, languages], excluded_fields=["search_text"]
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("union")
        verbose_name_plural = _("unions")
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                "country",
                name="crm_union_name_country_ci_unique",
                violation_error_message=_("A union with this name exists already in this country."),
            ),
        ]
        indexes = [models.Index(fields=["country", "kind"], name="crm_union_country_kind")]

    def __str__(self) -> str:
        return (
            f"{self.name} ({self.acronym})"
            if self.acronym and self.acronym != self.name
            else self.name
        )

    def save(self, *args: object, **kwargs: object) -> None:
        self.search_text = fold(f"{self.name} {self.acronym}").strip()
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def get_absolute_url(self) -> str:
        return reverse("crm:union_detail", args=[self.pk])

    @property
    def short_name(self) -> str:
        return self.acronym or self.name

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        if self.kind == self.Kind.LOCAL:
            if self.parent_id is None:
                errors["parent"] = _("A local must belong to a national union.")
            elif self.parent and self.parent.kind != self.Kind.NATIONAL_UNION:
                errors["parent"] = _("A local's parent must be a national union.")
        elif self.parent_id is not None:
            errors["parent"] = _(
                "Only a local has a parent union; use affiliations for the others."
            )
        if self.kind != self.Kind.GLOBAL_FEDERATION and not self.country:
            errors["country"] = _("Choose the country of this union.")
        if self.pk is not None:
            # Changing the kind must not leave locals under a non-national union, or affiliates
            # pointing at something that is no longer a federation or a national centre.
            if self.kind != self.Kind.NATIONAL_UNION and self.locals.exists():
                errors["kind"] = _("This union has locals: it must stay a national union.")
            elif (
                self.kind not in {self.Kind.GLOBAL_FEDERATION, self.Kind.NATIONAL_CENTRE}
                and self.affiliates.exists()
            ):
                errors["kind"] = _(
                    "Unions are affiliated to this one: "
                    "it must stay a federation or a national centre."
                )
        if errors:
            raise ValidationError(errors)


class Employer(Stamped):
    name = models.CharField(_("name"), max_length=200)
    country = CountryField(_("headquarters country"), blank=True)
    website = models.URLField(_("website"), blank=True)
    notes = models.TextField(_("notes"), blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("employer")
        verbose_name_plural = _("employers")
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="crm_employer_name_ci_unique",
                violation_error_message=_("An employer with this name exists already."),
            )
        ]

    def __str__(self) -> str:
        return self.name


class Site(Stamped):
    """A plant, shipyard or depot of an employer."""

    employer = models.ForeignKey(
        Employer, verbose_name=_("employer"), on_delete=models.PROTECT, related_name="sites"
    )
    name = models.CharField(_("site name"), max_length=200, blank=True)
    city = models.CharField(_("city"), max_length=100)
    country = CountryField(_("country"))
    sector = models.ForeignKey(
        Sector,
        verbose_name=_("sector"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sites",
    )
    products = models.CharField(_("products"), max_length=300, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["employer__name", "city", "name"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        constraints = [
            models.UniqueConstraint(
                "employer",
                Lower("city"),
                Lower("name"),
                name="crm_site_employer_city_name_ci_unique",
                violation_error_message=_(
                    "This employer already has a site with this name in this city."
                ),
            )
        ]

    def __str__(self) -> str:
        place = f"{self.name}, {self.city}" if self.name else self.city
        return f"{self.employer.name} – {place} ({self.country})"


class Trade(models.TextChoices):
    MACHINIST = "machinist", _("Machinist")
    CNC_OPERATOR = "cnc_operator", _("CNC operator")
    WELDER = "welder", _("Welder")
    ELECTRICIAN = "electrician", _("Electrician")
    ELECTRONICS_TECHNICIAN = "electronics_technician", _("Electronics technician")
    QA_INSPECTOR = "qa_inspector", _("QA inspector")
    NDT_TECHNICIAN = "ndt_technician", _("NDT technician")
    ENGINEER = "engineer", _("Engineer")
    ASSEMBLER = "assembler", _("Assembler")
    COMPOSITE_TECHNICIAN = "composite_technician", _("Composite technician")
    PIPEFITTER = "pipefitter", _("Pipefitter")
    MUNITIONS_HANDLER = "munitions_handler", _("Munitions handler")
    MAINTENANCE = "maintenance", _("Maintenance technician")
    LOGISTICS = "logistics", _("Logistics")
    OTHER = "other", _("Other")


class Consent(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    GRANTED = "granted", _("Granted")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class ConsentSource(models.TextChoices):
    STAFF = "staff", _("Recorded by staff")
    IMPORT = "import", _("Spreadsheet import")
    PUBLIC_FORM = "public_form", _("Public form")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribe link")


class Contact(Stamped):
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(
        _("phone"), max_length=32, blank=True, help_text=_("Stored in international format.")
    )
    country = CountryField(_("country"), blank=True)
    employer = models.ForeignKey(
        Employer,
        verbose_name=_("employer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="contacts",
    )
    site = models.ForeignKey(
        Site,
        verbose_name=_("site"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="contacts",
    )
    trade = models.CharField(_("trade"), max_length=30, choices=Trade.choices, blank=True)
    languages = models.ManyToManyField(
        Language, verbose_name=_("languages"), blank=True, related_name="contacts"
    )
    preferred_language = models.ForeignKey(
        Language,
        verbose_name=_("preferred language"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        # Never searched by; only a language's deletion (refused while in use) looks it up.
        db_index=False,
    )
    timezone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        help_text=_("Defaults from the country when it has one zone."),
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="contacts")
    notes = models.TextField(_("notes"), blank=True)
    email_consent = models.CharField(
        _("email consent"), max_length=10, choices=Consent.choices, default=Consent.UNKNOWN
    )
    email_consent_at = models.DateTimeField(_("consent recorded at"), null=True, blank=True)
    email_consent_source = models.CharField(
        _("consent source"), max_length=20, choices=ConsentSource.choices, blank=True
    )
    do_not_contact = models.BooleanField(
        _("do not contact"),
        default=False,
        help_text=_("Never send this person anything, whatever the consent."),
    )
    # Folded names and email (crm.text.fold), kept by save(); trigram-indexed on PostgreSQL.
    search_text = models.TextField(editable=False, default="")

    history = HistoricalRecords(
        m2m_fields=[languages, tags],
        excluded_fields=["search_text"],
        # History is read per contact (by id and date), and a version's tags and languages by
        # the version (history_id), never by these: their indexes would only slow down every
        # save, and bulk imports most ("contact", "language" and "tag" are the columns of the
        # snapshots of tags and languages that each version keeps).
        no_db_index=[
            "created_by",
            "updated_by",
            "employer",
            "site",
            "preferred_language",
            "contact",
            "language",
            "tag",
        ],
    )

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        permissions = [
            ("import_contacts", _("Can import contacts from spreadsheets")),
            ("export_contacts", _("Can export contacts")),
        ]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="crm_contact_email_ci_unique",
                violation_error_code="duplicate_email",
                violation_error_message=_("A contact with this email address exists already."),
            ),
            models.CheckConstraint(
                condition=~models.Q(first_name="", last_name=""),
                name="crm_contact_has_name",
                violation_error_message=_("Enter a first or a last name."),
            ),
        ]
        indexes = [
            models.Index(fields=["last_name", "first_name", "id"], name="crm_contact_name_order"),
            models.Index(fields=["country"], name="crm_contact_country"),
            # No index of the trade: a dozen values, so a filter by one reads a tenth of the
            # table, where a scan is about as fast; and without it, a file that changes
            # people's trades (and not how they are found) updates them in place (HOT, with
            # the room migrations 0016 and 0017 leave), without a new entry in each index.
            # Importers match rows without an email by phone.
            models.Index(fields=["phone"], name="crm_contact_phone"),
        ]

    def __str__(self) -> str:
        return self.full_name

    def save(self, *args: object, **kwargs: object) -> None:
        # Kept here rather than in a service: the admin, imports and forms all save contacts,
        # and a stale search column would silently hide people from search.
        self.search_text = contact_search_text(self.first_name, self.last_name, self.email)
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def get_absolute_url(self) -> str:
        return reverse("crm:contact_detail", args=[self.pk])

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def clean(self) -> None:
        self.first_name = self.first_name.strip()
        self.last_name = self.last_name.strip()
        self.email = normalize_email(self.email)
        errors: dict[str, ValidationError] = {}
        if not self.first_name and not self.last_name:
            errors["last_name"] = ValidationError(
                _("Enter a first or a last name."), code="required"
            )
        if self.phone:
            try:
                self.phone = normalize_phone(self.phone, str(self.country) or None)
            except ValidationError as error:
                errors["phone"] = error
        if self.timezone and not is_valid_timezone(self.timezone):
            errors["timezone"] = ValidationError(
                _("%(value)s is not a known time zone (use a name like Europe/Berlin)."),
                params={"value": self.timezone},
                code="invalid",
            )
        if not self.timezone and self.country:
            self.timezone = default_timezone(str(self.country)) or ""
        if self.site_id and self.site is not None:
            if self.employer_id is None:
                self.employer = self.site.employer
            elif self.site.employer_id != self.employer_id:
                errors["site"] = ValidationError(
                    _("This site belongs to another employer."), code="invalid"
                )
        if errors:
            raise ValidationError(errors)

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        # The case-insensitive email constraint is an expression, which Django reports as a
        # non-field error; the person typing needs it next to the email box.
        try:
            super().validate_constraints(exclude=exclude)
        except ValidationError as error:
            errors = error.update_error_dict({})
            general = errors.pop(NON_FIELD_ERRORS, [])
            for item in general:
                key = (
                    "email"
                    if getattr(item, "code", None) == "duplicate_email"
                    else NON_FIELD_ERRORS
                )
                errors.setdefault(key, []).append(item)
            raise ValidationError(errors) from None

    @property
    def can_be_emailed(self) -> bool:
        return (
            bool(self.email) and not self.do_not_contact and self.email_consent != Consent.WITHDRAWN
        )


def contact_search_text(first_name: str, last_name: str, email: str) -> str:
    return fold(f"{first_name} {last_name} {email}").strip()


def normalize_email(value: str) -> str:
    # The domain part is case-insensitive by standard; the local part is too in practice, and
    # uniqueness is enforced case-insensitively, so keep what was typed apart from the domain.
    value = value.strip()
    if "@" not in value:
        return value
    local, _at, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalize_phone(value: str, region: str | None) -> str:
    """E.164 form of a phone number written nationally (for `region`) or internationally."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        if region:
            message = _("%(value)s is not a valid phone number for %(country)s.")
            region = str(countries.name(region)) or region
        else:
            message = _(
                "%(value)s is not a valid phone number; write it as +<country code> <number>."
            )
        raise ValidationError(message, params={"value": value, "country": region}, code="invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", _("Member")
        SHOP_STEWARD = "shop_steward", _("Shop steward")
        LOCAL_OFFICER = "local_officer", _("Local officer")
        NATIONAL_OFFICER = "national_officer", _("National officer")
        STAFF = "staff", _("Union staff")
        SAFETY_REP = "safety_rep", _("Safety representative")

    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), on_delete=models.CASCADE, related_name="memberships"
    )
    union = models.ForeignKey(
        Union, verbose_name=_("union"), on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.MEMBER)
    start_date = models.DateField(_("since"), null=True, blank=True)
    end_date = models.DateField(_("until"), null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-end_date", "-start_date", "id"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__isnull=True)
                | models.Q(start_date__isnull=True)
                | models.Q(end_date__gte=models.F("start_date")),
                name="crm_membership_dates_ordered",
                violation_error_message=_("A membership cannot end before it starts."),
            ),
            models.UniqueConstraint(
                "contact",
                "union",
                "role",
                condition=models.Q(end_date__isnull=True),
                name="crm_membership_one_open_role",
                violation_error_message=_("This person already has this role in this union."),
            ),
        ]
        indexes = [models.Index(fields=["union", "end_date"], name="crm_membership_union_current")]

    def __str__(self) -> str:
        return f"{self.contact} – {self.union.short_name} ({self.get_role_display()})"

    @property
    def is_current(self) -> bool:
        return self.end_date is None or self.end_date >= timezone.localdate()


class WorkerHeartbeat(models.Model):
    """Last time each Celery worker ran the periodic heartbeat; shown by /healthz."""

    worker = models.CharField(_("worker"), max_length=200, unique=True)
    seen_at = models.DateTimeField(_("last seen at"))

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")

    def __str__(self) -> str:
        return f"{self.worker} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class StaffProfile(models.Model):
    """A staff member's own settings: the time zone dates and times are shown and entered in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    timezone = models.CharField(_("time zone"), max_length=64, blank=True)
    weekly_digest = models.BooleanField(
        _("weekly report by e-mail"),
        default=False,
        help_text=_("Every Monday morning, last week's consultation figures."),
    )

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")

    def __str__(self) -> str:
        return f"{self.user} ({self.timezone or 'UTC'})"


class ConsentRecord(models.Model):
    """One answer a person gave about e-mail: what was asked, the answer, when, how it reached us
    and who recorded it. Rows are added, never changed: they are the proof of consent, and
    Contact.email_consent is only the latest of them."""

    contact = models.ForeignKey(
        Contact,
        on_delete=models.CASCADE,  # erasing a person erases what they told us too
        related_name="consent_records",
        verbose_name=_("contact"),
    )
    question = models.TextField(_("question asked"))
    answer = models.CharField(_("answer"), max_length=10, choices=Consent.choices)
    source = models.CharField(_("source"), max_length=20, choices=ConsentSource.choices)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    import_job = models.ForeignKey(
        "crm.ImportJob",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="consent_records",
        verbose_name=_("import"),
    )

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-recorded_at", "-pk"]
        indexes = [models.Index(fields=["contact", "-recorded_at"], name="consent_contact_time")]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.answer} ({self.source}, {self.recorded_at:%Y-%m-%d})"


# Defined in their own module to keep this one readable; imported so that Django sees them.
from crm.importing.models import ImportJob as ImportJob  # noqa: E402
from crm.importing.models import ImportKind as ImportKind  # noqa: E402
from crm.importing.models import SavedMapping as SavedMapping  # noqa: E402
from crm.privacy.models import ContactAccess as ContactAccess  # noqa: E402
from crm.privacy.models import ContactErasure as ContactErasure  # noqa: E402
from crm.privacy.models import ErasureReview as ErasureReview  # noqa: E402
