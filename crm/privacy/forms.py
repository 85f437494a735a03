"""Forms of the access log and of erasure."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from crm.forms import valid_fields
from crm.models import Contact
from crm.privacy.models import ContactAccess
from crm.privacy.selectors import AccessFilters
from crm.privacy.services import erasure_confirmation_ok


class AccessFilterForm(forms.Form):
    user = forms.ModelChoiceField(
        label=_("Staff member"),
        queryset=get_user_model().objects.order_by("username"),
        required=False,
        empty_label=_("Anyone"),
    )
    contact = forms.IntegerField(label=_("Contact number"), required=False, min_value=1)
    action = forms.ChoiceField(
        label=_("Action"),
        required=False,
        choices=[("", _("Any action")), *ContactAccess.Action.choices],
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def filters(self) -> AccessFilters:
        data = valid_fields(self)
        return AccessFilters(
            user=data.get("user"),
            contact_id=data.get("contact"),
            action=data.get("action", ""),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )


class ErasureForm(forms.Form):
    confirmation = forms.CharField(
        label=_("Type the person's full name, or ERASE"),
        max_length=250,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            'For the record kept of this erasure, e.g. "request by e-mail of 3 May". '
            "The person's name and address are removed from it."
        ),
    )

    def __init__(self, *args: Any, contact: Contact, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.contact = contact

    def clean_confirmation(self) -> str:
        typed = self.cleaned_data["confirmation"]
        if not erasure_confirmation_ok(contact=self.contact, typed=typed):
            raise forms.ValidationError(
                _("This is neither the person's full name nor ERASE."), code="mismatch"
            )
        return typed
