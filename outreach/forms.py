"""Forms of the outreach app: the quick log of a consultation and the list filters."""

from __future__ import annotations

import uuid
from datetime import time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.forms.utils import flatatt
from django.http import QueryDict
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from crm.forms import any_country_choices, valid_fields
from crm.models import Contact, Sector, Union
from crm.selectors import union_choices
from outreach.models import Attendance, Concern, Consultation, EmailTemplate, Topic
from outreach.reports import ReportFilters
from outreach.selectors import ConsultationFilters
from outreach.services import FollowUpRequest, NewAttendee
from outreach.services.followups import local_to_utc


def _staff_users() -> Any:
    return (
        get_user_model()
        .objects.filter(groups__isnull=False, is_active=True)
        .distinct()
        .order_by("username")
    )


class IdListField(forms.Field):
    """Ids posted by the search-and-pick widgets (one hidden input per picked item), in order."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        ids = []
        for item in value or []:
            try:
                ids.append(int(item))
            except (TypeError, ValueError):
                raise ValidationError(
                    _("%(value)s is not a valid choice."), params={"value": item}
                ) from None
        return list(dict.fromkeys(ids))


def offered_templates() -> Any:
    """Active templates with an English version, the one every language falls back to."""
    return (
        EmailTemplate.objects.filter(active=True, versions__language="en")
        .distinct()
        .prefetch_related("versions")
        .order_by("name")
    )


PAST_GRACE = timedelta(minutes=5)


def _refuse_past(form: forms.Form, field: str, send_at: Any) -> None:
    if send_at < timezone.now() - PAST_GRACE:
        form.add_error(field, _("This time has passed already; choose a time to come."))


class TemplateChoiceField(forms.ModelChoiceField):
    """Templates named with the languages they are written in, so the fallback is known up front."""

    def label_from_instance(self, obj: Any) -> str:
        languages = sorted(version.language_id for version in obj.versions.all())
        return _("%(name)s (%(languages)s; other languages get English)") % {
            "name": obj.name,
            "languages": ", ".join(languages) or "—",
        }


class ConsultationForm(forms.ModelForm):
    unions = IdListField(label=_("Unions"), required=False)
    attendees = IdListField(label=_("People who attended"), required=False)
    attendee_roles = forms.MultipleChoiceField(
        choices=Attendance.Role.choices, required=False, widget=forms.MultipleHiddenInput
    )
    submission_key = forms.UUIDField(required=False, widget=forms.HiddenInput)
    follow_up_template = TemplateChoiceField(
        label=_("E-mail"),
        queryset=EmailTemplate.objects.none(),
        required=False,
        empty_label=_("No follow-up"),
    )
    follow_up_date = forms.DateField(
        label=_("On"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    follow_up_time = forms.TimeField(
        label=_("At (each person's local time)"),
        required=False,
        initial=time(9, 0),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )

    class Meta:
        model = Consultation
        fields = [
            "title",
            "starts_at",
            "status",
            "format",
            "city",
            "country",
            "site",
            "position",
            "topics",
            "concerns",
            "summary",
            "outcomes",
            "commitments",
            "languages",
            "interpreter_present",
            "other_staff",
        ]
        widgets = {
            "starts_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
            "position": forms.RadioSelect,
            "topics": forms.CheckboxSelectMultiple,
            "concerns": forms.CheckboxSelectMultiple,
            "summary": forms.Textarea(attrs={"rows": 3}),
            "outcomes": forms.Textarea(attrs={"rows": 2}),
            "commitments": forms.Textarea(attrs={"rows": 2}),
            "languages": forms.SelectMultiple(attrs={"size": 4}),
            "other_staff": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args: Any, has_new_people: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.has_new_people = has_new_people
        self.fields["title"].required = False
        self.fields["title"].help_text = _("Left empty, it is made from the format and the unions.")
        # Retired topics, concerns and staff are no longer offered, but a consultation that has
        # them keeps them when edited.
        keep = self.instance.pk is not None
        topics = cast(forms.ModelMultipleChoiceField, self.fields["topics"])
        topics.queryset = Topic.objects.filter(
            Q(active=True) | Q(pk__in=self.instance.topics.values("pk") if keep else [])
        )
        concerns = cast(forms.ModelMultipleChoiceField, self.fields["concerns"])
        concerns.queryset = Concern.objects.filter(
            Q(active=True) | Q(pk__in=self.instance.concerns.values("pk") if keep else [])
        )
        staff = cast(forms.ModelMultipleChoiceField, self.fields["other_staff"])
        staff.queryset = (
            get_user_model()
            .objects.filter(
                Q(pk__in=_staff_users().values("pk"))
                | Q(pk__in=self.instance.other_staff.values("pk") if keep else [])
            )
            .order_by("username")
        )
        cast(forms.ModelChoiceField, self.fields["site"]).queryset = self.fields[
            "site"
        ].queryset.select_related(  # type: ignore[attr-defined]
            "employer"
        )
        if not self.is_bound and self.instance.pk is None:
            now = timezone.localtime().replace(second=0, microsecond=0)
            self.initial.setdefault("starts_at", now - timedelta(minutes=now.minute % 5))
            self.initial.setdefault("submission_key", uuid.uuid4())
        self.picked_unions, self.picked_attendees = self._picked()
        template_field = cast(TemplateChoiceField, self.fields["follow_up_template"])
        template_field.queryset = EmailTemplate.objects.filter(active=True).prefetch_related(
            "versions"
        )

    def _picked(self) -> tuple[list[Union], list[tuple[Contact, str]]]:
        """What the pick widgets hold, to draw them again (after an error, or when editing)."""
        if self.is_bound:
            posted = cast(QueryDict, self.data)
            union_ids = _ints(posted.getlist(self.add_prefix("unions")))
            contact_ids = _ints(posted.getlist(self.add_prefix("attendees")))
            roles = posted.getlist(self.add_prefix("attendee_roles"))
        elif self.instance.pk:
            union_ids = [union.pk for union in self.instance.unions.all()]
            rows = list(self.instance.attendances.values_list("contact_id", "role"))
            contact_ids, roles = [row[0] for row in rows], [row[1] for row in rows]
        else:
            return [], []
        unions = Union.objects.in_bulk(union_ids)
        contacts = Contact.objects.in_bulk(contact_ids)
        picked_unions = [unions[pk] for pk in union_ids if pk in unions]
        picked_attendees = [
            (contacts[pk], role)
            for pk, role in zip(contact_ids, roles, strict=False)
            if pk in contacts
        ]
        return picked_unions, picked_attendees

    def clean_unions(self) -> list[Union]:
        ids = self.cleaned_data["unions"]
        found = Union.objects.in_bulk(ids)
        if len(found) != len(ids):
            raise ValidationError(_("A union you picked no longer exists; pick it again."))
        return [found[pk] for pk in ids]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        ids = data.get("attendees") or []
        roles = data.get("attendee_roles") or []
        if (
            not ids
            and not data.get("unions")
            and not self.has_new_people
            and "unions" not in self.errors
        ):
            # Also checked by the service; here so that it shows with the other errors at once.
            message = _("Add at least one union or one person who attended.")
            self.add_error("unions", message)
            self.add_error("attendees", message)
            return data
        if len(roles) != len(ids):
            self.add_error("attendees", _("Choose a role for each person."))
            return data
        found = Contact.objects.in_bulk(ids)
        if len(found) != len(ids):
            self.add_error("attendees", _("A person you picked no longer exists; pick them again."))
            return data
        data["attendees"] = [(found[pk], role) for pk, role in zip(ids, roles, strict=True)]
        self._clean_follow_up(data)
        return data

    def _clean_follow_up(self, data: dict[str, Any]) -> None:
        template, day = data.get("follow_up_template"), data.get("follow_up_date")
        if template is None:
            data["follow_up"] = None
            return
        if day is None:
            self.add_error("follow_up_date", _("Choose the day to send the follow-up."))
            return
        if day < timezone.localdate() - timedelta(days=1):
            self.add_error(
                "follow_up_date", _("This day has passed already; choose a day to come.")
            )
            return
        data["follow_up"] = FollowUpRequest(
            template=template, day=day, time_of_day=data.get("follow_up_time") or time(9, 0)
        )


def _ints(values: list[str]) -> list[int]:
    # isdigit() alone accepts "²", which int() refuses.
    return [int(value) for value in values if value.isascii() and value.isdigit()]


class NewAttendeeForm(forms.Form):
    """A person met for the first time: name, and optionally e-mail and union."""

    first_name = forms.CharField(label=_("First name"), max_length=100, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=100, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    union = forms.ModelChoiceField(
        label=_("Union"), queryset=Union.objects.order_by("name"), required=False
    )
    role = forms.ChoiceField(
        label=_("Role"), choices=Attendance.Role.choices, initial=Attendance.Role.PARTICIPANT
    )

    def __init__(
        self, *args: Any, union_choices: list[tuple[Any, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if union_choices is not None:
            self.fields["union"].choices = union_choices  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        # The contact's own rules (a name, a unique e-mail) decide, as for any other contact.
        contact = Contact(
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            email=data.get("email", ""),
        )
        try:
            contact.full_clean(exclude=["timezone", "phone"])
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return data

    def has_changed(self) -> bool:
        # A row counts once something identifying is typed; a removed or untouched row, whose
        # role select still holds its default, is ignored rather than refused.
        return any(
            (self.data.get(self.add_prefix(name)) or "").strip()
            for name in ("first_name", "last_name", "email")
        )

    def attendee(self) -> NewAttendee:
        data = self.cleaned_data
        return NewAttendee(
            first_name=data["first_name"].strip(),
            last_name=data["last_name"].strip(),
            email=data["email"],
            union=data["union"],
            role=data["role"],
        )


class BaseNewAttendeeFormSet(forms.BaseFormSet):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._union_choices: list[tuple[Any, str]] | None = None

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        # Every row offers the same unions: read them once, not once per row.
        if self._union_choices is None:
            self._union_choices = [
                ("", "---------"),
                *Union.objects.order_by("name").values_list("pk", "name"),
            ]
        return {**super().get_form_kwargs(index), "union_choices": self._union_choices}

    def clean(self) -> None:
        emails = [
            form.cleaned_data.get("email", "").lower() for form in self.forms if form.cleaned_data
        ]
        filled = [email for email in emails if email]
        if len(filled) != len(set(filled)):
            raise ValidationError(_("The same e-mail address is given for two new people."))

    def attendees(self) -> list[NewAttendee]:
        return [form.attendee() for form in self.forms if form.has_changed()]


NewAttendeeFormSet = forms.formset_factory(
    NewAttendeeForm, formset=BaseNewAttendeeFormSet, extra=0, max_num=20, validate_max=True
)


class ConsultationFilterForm(forms.Form):
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    country = forms.ChoiceField(label=_("Country"), required=False, choices=any_country_choices)
    union = forms.ModelChoiceField(
        label=_("Union"),
        queryset=union_choices(),
        required=False,
        empty_label=_("Any union"),
    )
    topic = forms.ModelChoiceField(
        label=_("Topic"), queryset=Topic.objects.all(), required=False, empty_label=_("Any topic")
    )
    position = forms.ChoiceField(
        label=_("Position"),
        required=False,
        choices=[("", _("Any position")), *Consultation.Position.choices],
    )
    staff = forms.ModelChoiceField(
        label=_("Staff"), queryset=_staff_users(), required=False, empty_label=_("Anyone")
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *Consultation.Status.choices],
    )

    def filters(self, **overrides: Any) -> ConsultationFilters:
        data = valid_fields(self)
        values = {
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "country": data.get("country", ""),
            "union": data.get("union"),
            "topic": data.get("topic"),
            "position": data.get("position", ""),
            "staff": data.get("staff"),
            "status": data.get("status", ""),
        }
        values.update(overrides)
        return ConsultationFilters(**values)


class FollowUpForm(forms.Form):
    """One follow-up to one person, at a time on *their* clock."""

    template = TemplateChoiceField(
        label=_("Template"),
        queryset=EmailTemplate.objects.none(),
        required=False,
        empty_label=_("Write my own"),
    )
    subject = forms.CharField(label=_("Subject"), max_length=200, required=False)
    body = forms.CharField(
        label=_("Text"), required=False, widget=forms.Textarea(attrs={"rows": 6})
    )
    send_date = forms.DateField(label=_("Day"), widget=forms.DateInput(attrs={"type": "date"}))
    send_time = forms.TimeField(
        label=_("Time"),
        initial=time(9, 0),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    submission_key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(
        self, *args: Any, zone: ZoneInfo, zone_is_theirs: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone
        self.initial.setdefault("submission_key", uuid.uuid4())
        self.fields["send_time"].help_text = (
            _("On %(zone)s time, the person's own clock.")
            if zone_is_theirs
            else _("Their time zone is not known: this is %(zone)s time, your clock.")
        ) % {"zone": zone.key}
        template_field = cast(TemplateChoiceField, self.fields["template"])
        template_field.queryset = offered_templates()

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("template") is None:
            if not (data.get("subject") or "").strip():
                self.add_error("subject", _("Choose a template or write a subject."))
            if not (data.get("body") or "").strip():
                self.add_error("body", _("Write the text of the e-mail."))
        if data.get("send_date") and data.get("send_time"):
            try:
                data["send_at"] = local_to_utc(data["send_date"], data["send_time"], self.zone)
            except ValidationError as error:
                self.add_error("send_time", error)
            else:
                _refuse_past(self, "send_date", data["send_at"])
        return data


class RescheduleForm(forms.Form):
    send_date = forms.DateField(label=_("Day"), widget=forms.DateInput(attrs={"type": "date"}))
    send_time = forms.TimeField(
        label=_("Time"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )

    def __init__(self, *args: Any, zone: ZoneInfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("send_date") and data.get("send_time"):
            try:
                data["send_at"] = local_to_utc(data["send_date"], data["send_time"], self.zone)
            except ValidationError as error:
                self.add_error("send_time", error)
            else:
                _refuse_past(self, "send_date", data["send_at"])
        return data


class PlainSelect(forms.Select):
    """A select drawn in Python rather than one template per option: the union filter offers
    every union (thousands, in a large campaign), and the per-option templates cost more than
    the report itself."""

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> Any:
        chosen = {str(v) for v in (value if isinstance(value, list | tuple) else [value])}
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (key, mark_safe(" selected") if str(key) in chosen else "", label)
                for key, label in ((str(k), str(v)) for k, v in self.choices)
            ),
        )
        final = self.build_attrs(self.attrs, {**(attrs or {}), "name": name})
        return format_html("<select{}>{}</select>", flatatt(final), options)


class ReportFilterForm(forms.Form):
    """The report's filters, kept in the URL so that a view of the report can be shared."""

    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    country = forms.ChoiceField(label=_("Country"), required=False, choices=any_country_choices)
    union = forms.ModelChoiceField(
        label=_("Union (with its locals)"),
        queryset=union_choices().order_by("name", "country"),
        required=False,
        empty_label=_("Any union"),
        widget=PlainSelect,
    )
    sector = forms.ModelChoiceField(
        label=_("Sector"),
        queryset=Sector.objects.all(),
        required=False,
        empty_label=_("Any sector"),
    )
    topic = forms.ModelChoiceField(
        label=_("Topic"), queryset=Topic.objects.all(), required=False, empty_label=_("Any topic")
    )
    staff = forms.ModelChoiceField(
        label=_("Staff"), queryset=_staff_users(), required=False, empty_label=_("Anyone")
    )
    format = forms.ChoiceField(
        label=_("Format"),
        required=False,
        choices=[("", _("Any format")), *Consultation.Format.choices],
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
            data.pop("date_to", None)
        return data

    def filters(self) -> ReportFilters:
        data = valid_fields(self)
        return ReportFilters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            country=data.get("country", ""),
            union=data.get("union"),
            sector=data.get("sector"),
            topic=data.get("topic"),
            staff=data.get("staff"),
            format=data.get("format", ""),
        )
