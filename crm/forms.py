"""Forms of the staff UI. Validation lives on the models; forms shape input for the services."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from crm.models import (
    Consent,
    Contact,
    Employer,
    Language,
    Membership,
    Sector,
    Site,
    Tag,
    Trade,
    Union,
)
from crm.selectors import ContactFilters, UnionFilters, union_choices
from crm.services import STAFF_CONSENT_QUESTION, TAG_MAX_LENGTH, tags_parse, tags_split
from crm.timezones import timezone_names


def any_country_choices() -> list[tuple[str, str]]:
    return [("", str(_("Any country"))), *[(code, str(name)) for code, name in countries]]


def _any_sector() -> list[tuple[str, str]]:
    return [
        ("", str(_("Any sector"))),
        *[(sector.slug, str(sector)) for sector in Sector.objects.all()],
    ]


def _timezone_choices() -> list[tuple[str, str]]:
    return [("", str(_("Default for the country"))), *[(name, name) for name in timezone_names()]]


def add_service_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: beside the field it names, or above the
    form when the form has no such field (a rule about several fields, a race)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def valid_fields(form: forms.Form) -> dict[str, Any]:
    """The fields that validated. One bad value (say a deleted tag in a bookmark) must not drop
    the other filters, so the form's overall validity is not what counts here."""
    if not form.is_bound:
        return {}
    form.is_valid()
    return form.cleaned_data


class ContactFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Name or email"), "autocomplete": "off"}
        ),
    )
    union = forms.ModelChoiceField(
        label=_("Union"),
        queryset=union_choices(),
        required=False,
        empty_label=_("Any union"),
    )
    country = forms.ChoiceField(label=_("Country"), required=False, choices=any_country_choices)
    trade = forms.ChoiceField(
        label=_("Trade"), required=False, choices=[("", _("Any trade")), *Trade.choices]
    )
    tag = forms.ModelChoiceField(
        label=_("Tag"), queryset=Tag.objects.all(), required=False, empty_label=_("Any tag")
    )
    language = forms.ModelChoiceField(
        label=_("Language"),
        queryset=Language.objects.all(),
        required=False,
        empty_label=_("Any language"),
    )
    consent = forms.ChoiceField(
        label=_("Consent"),
        required=False,
        choices=[("", _("Any consent")), *Consent.choices, ("do_not_contact", _("Do not contact"))],
    )

    def filters(self) -> ContactFilters:
        """The valid filters; an invalid one (say a deleted union in a bookmark) is ignored."""
        data = valid_fields(self)
        language = data.get("language")
        return ContactFilters(
            q=data.get("q", ""),
            union=data.get("union"),
            country=data.get("country", ""),
            trade=data.get("trade", ""),
            tag=data.get("tag"),
            language=language.code if language else "",
            consent=data.get("consent", ""),
        )


class UnionFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Name or acronym"), "autocomplete": "off"}
        ),
    )
    country = forms.ChoiceField(label=_("Country"), required=False, choices=any_country_choices)
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("Any kind")), *Union.Kind.choices]
    )
    sector = forms.ChoiceField(label=_("Sector"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read once per form: a callable would query again for validation and for rendering.
        cast(forms.ChoiceField, self.fields["sector"]).choices = _any_sector()

    def filters(self) -> UnionFilters:
        data = valid_fields(self)
        return UnionFilters(
            q=data.get("q", ""),
            country=data.get("country", ""),
            kind=data.get("kind", ""),
            sector=data.get("sector", ""),
        )


class ContactForm(forms.ModelForm):
    tags = forms.CharField(
        label=_("Tags"), required=False, max_length=500, help_text=_("Separate tags with commas.")
    )
    timezone = forms.ChoiceField(label=_("Time zone"), required=False, choices=_timezone_choices)
    # First membership, on the create form only.
    union = forms.ModelChoiceField(
        label=_("Union"), queryset=Union.objects.order_by("name"), required=False
    )
    union_role = forms.ChoiceField(
        label=_("Role in the union"), choices=Membership.Role.choices, required=False
    )

    class Meta:
        model = Contact
        fields = [
            "first_name",
            "last_name",
            "email",
            "phone",
            "country",
            "employer",
            "site",
            "trade",
            "languages",
            "preferred_language",
            "timezone",
            "tags",
            "email_consent",
            "do_not_contact",
            "notes",
        ]
        widgets = {
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
            "languages": forms.SelectMultiple(attrs={"size": 6}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, allow_membership: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The question is kept with the answer (crm.ConsentRecord): staff see what they record.
        self.fields["email_consent"].help_text = _(
            "The person's answer when asked: “%(question)s”"
        ) % {"question": STAFF_CONSENT_QUESTION}
        cast(forms.ModelChoiceField, self.fields["site"]).queryset = Site.objects.select_related(
            "employer"
        )
        if self.instance.pk or not allow_membership:
            del self.fields["union"]
            del self.fields["union_role"]
            self.initial["tags"] = ", ".join(tag.name for tag in self.instance.tags.all())

    def clean_tags(self) -> list[str]:
        text = self.cleaned_data.get("tags") or ""
        # Refused rather than cut, as the importer does: a cut tag is another tag.
        for name in tags_split(text):
            if len(name) > TAG_MAX_LENGTH:
                raise ValidationError(
                    _("The tag “%(name)s” is %(length)d characters long; at most %(limit)d fit."),
                    params={"name": name, "length": len(name), "limit": TAG_MAX_LENGTH},
                    code="max_length",
                )
        return tags_parse(text)


class UnionForm(forms.ModelForm):
    website = forms.URLField(label=_("Website"), required=False, assume_scheme="https")

    class Meta:
        model = Union
        fields = [
            "name",
            "acronym",
            "kind",
            "country",
            "parent",
            "affiliations",
            "sectors",
            "membership_size",
            "website",
            "languages",
            "notes",
        ]
        widgets = {
            "sectors": forms.CheckboxSelectMultiple,
            "affiliations": forms.SelectMultiple(attrs={"size": 4}),
            "languages": forms.SelectMultiple(attrs={"size": 6}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        parent = cast(forms.ModelChoiceField, self.fields["parent"])
        parent.queryset = Union.objects.filter(kind=Union.Kind.NATIONAL_UNION).order_by("name")
        affiliations = cast(forms.ModelMultipleChoiceField, self.fields["affiliations"])
        affiliations.queryset = Union.objects.filter(
            kind__in=[Union.Kind.GLOBAL_FEDERATION, Union.Kind.NATIONAL_CENTRE]
        ).order_by("name")


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["union", "role", "start_date", "end_date"]
        widgets = {
            "start_date": forms.DateInput(attrs={"type": "date"}),
            "end_date": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["union"]).queryset = Union.objects.order_by("name")


class EmployerForm(forms.ModelForm):
    website = forms.URLField(label=_("Website"), required=False, assume_scheme="https")

    class Meta:
        model = Employer
        fields = ["name", "country", "website", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}


class SiteForm(forms.ModelForm):
    class Meta:
        model = Site
        fields = ["name", "city", "country", "sector", "products"]
