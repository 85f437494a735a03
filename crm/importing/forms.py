"""Forms of the import pages: the upload, and the mapping of the file's columns to fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from crm.importing.headers import COLUMNS_BY_KIND, FULL_NAME
from crm.importing.models import ImportKind
from crm.models import Contact

ACCEPTED = ".csv,.txt,.tsv,.xlsx,.ods"
FIELD_LABELS = {
    FULL_NAME: _("full name (split into first and last)"),
    "union": _("union"),
    "union_role": _("union role"),
    "languages": _("languages"),
    "tags": _("tags"),
    # Unions
    "name": _("name"),
    "acronym": _("acronym"),
    "kind": _("kind"),
    "parent": _("national union (of a local)"),
    "national_centre": _("national centre"),
    "federation": _("global federation"),
    "sectors": _("sectors"),
    "members": _("membership size"),
    "website": _("website"),
    # Consultations
    "date": _("date (and time)"),
    "title": _("title"),
    "format": _("format"),
    "status": _("status"),
    "city": _("city"),
    "unions": _("unions"),
    "contacts": _("people who attended"),
    "topics": _("topics"),
    "concerns": _("concerns"),
    "position": _("position on the proposal"),
    "summary": _("summary"),
    "staff": _("staff lead"),
}


def field_label(name: str) -> str:
    if name in FIELD_LABELS:
        return str(FIELD_LABELS[name])
    return str(getattr(Contact._meta.get_field(name), "verbose_name", name))


class UploadForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("What the file lists"),
        choices=ImportKind.choices,
        initial=ImportKind.CONTACTS,
        widget=forms.RadioSelect,
        required=False,  # contacts, the usual case, when a client leaves it out
    )
    file = forms.FileField(
        label=_("Spreadsheet"),
        help_text=_("CSV (comma, semicolon or tab), XLSX or ODS; the first row names the columns."),
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPTED}),
    )

    def __init__(self, *args: Any, kinds: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = self.fields["kind"]
        assert isinstance(kind, forms.ChoiceField)
        # Only what this user may import is offered (and accepted).
        kind.choices = [(value, label) for value, label in ImportKind.choices if value in kinds]

    def clean_kind(self) -> str:
        return self.cleaned_data.get("kind") or ImportKind.CONTACTS

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(limit)d MB: split it into smaller files.")
                % {"limit": settings.IMPORT_MAX_BYTES // (1024 * 1024)}
            )
        return upload


class MappingForm(forms.Form):
    """One choice per column of the file: which contact field it holds, or none."""

    create_unions = forms.BooleanField(
        label=_("Create missing unions"),
        required=False,
        help_text=_("Otherwise rows naming a union the CRM does not know are rejected."),
    )
    consent_question = forms.CharField(
        label=_("What were these people asked about e-mail, and where?"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "Kept with every consent answer of the file, as the record of what each person "
            "agreed to. Left empty, the record names the file and its column instead."
        ),
    )
    save_as = forms.CharField(
        label=_("Save this mapping as"),
        required=False,
        max_length=100,
        help_text=_("Files with the same headers will get it automatically."),
    )

    def __init__(
        self,
        *args: Any,
        headers: list[str],
        mapping: dict[str, str],
        kind: str = ImportKind.CONTACTS,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        choices = [("", _("— ignore this column —"))] + [
            (name, field_label(name)) for name in COLUMNS_BY_KIND[kind]
        ]
        self.columns = []
        for index, header in enumerate(headers):
            name = f"column_{index}"
            self.fields[name] = forms.ChoiceField(
                label=header or _("(column %(number)d, no header)") % {"number": index + 1},
                choices=choices,
                required=False,
                initial=mapping.get(str(index), ""),
            )
            self.columns.append(name)
        if kind != ImportKind.CONTACTS:
            del self.fields["consent_question"]
        # The checkboxes and the name come after the columns on the page.
        self.order_fields([*self.columns, "create_unions", "consent_question", "save_as"])

    def mapping(self) -> dict[int, str]:
        return {
            int(name.removeprefix("column_")): self.cleaned_data[name]
            for name in self.columns
            if self.cleaned_data.get(name)
        }
