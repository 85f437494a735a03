"""Forms of public comments: the public "Share your voice" form, its anti-spam token, and the
staff queue's filters and moderation forms."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.conf import settings
from django.core import signing
from django.utils.formats import number_format
from django.utils.text import capfirst
from django.utils.translation import get_language, get_language_info, get_supported_language_variant
from django.utils.translation import gettext_lazy as _

from crm.forms import any_country_choices, valid_fields
from crm.models import Union
from crm.selectors import union_choices
from outreach.comment_selectors import CommentFilters
from outreach.models import PublicComment
from outreach.services.comments import SUBMITTED_FIELDS

# The questions as the person reads them; their translation at the time is stored as the consent.
CONSENT_QUESTION = _("May we post your comment for others to see and review?")
CONSENT_EXPLANATION = _(
    "If you say yes, staff may post it on the comments page, with your name, union, country, "
    "trade and role if you give them here. Your e-mail address is never shown."
)
UPDATES_QUESTION = _("Yes, send me updates about the campaign by e-mail.")

# Two fields outside the form proper: a trap only programs fill in (hidden by the style sheet,
# skipped by keyboards and screen readers) and the signed time the form was shown.
HONEYPOT_FIELD = "website"
SHOWN_FIELD = "shown"
_SHOWN_SALT = "outreach.public-comment-form"


@dataclass(frozen=True)
class FormToken:
    shown_at: float
    language: str  # of the page the questions were read on

    def age(self) -> float:
        return time.time() - self.shown_at

    def submission_key(self, comment: str) -> str:
        """The same form sent twice with the same text gives the same key (one comment)."""
        shown = f"{self.shown_at!r}:{self.language}:{comment}"
        return hashlib.sha256(shown.encode()).hexdigest()


def form_token(*, language: str, shown_at: float | None = None) -> str:
    shown_at = time.time() if shown_at is None else shown_at
    return signing.dumps({"t": shown_at, "l": language}, salt=_SHOWN_SALT)


def form_token_read(value: str) -> FormToken | None:
    """The token's content, or None when it is missing, forged or malformed."""
    try:
        content = signing.loads(value, salt=_SHOWN_SALT)
        token = FormToken(shown_at=float(content["t"]), language=str(content["l"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    return token if token.language in dict(settings.LANGUAGES) else None


def active_language() -> str:
    """The page's language (from the browser's preferences), as one of the site's languages."""
    try:
        return get_supported_language_variant(get_language() or settings.LANGUAGE_CODE)
    except LookupError:
        return settings.LANGUAGE_CODE


def _language_choices() -> list[tuple[str, str]]:
    # Each language in its own name: the reader may not read the page's language well.
    return [
        (code, capfirst(get_language_info(code)["name_local"]))
        for code, _name in settings.LANGUAGES
    ]


class PublicCommentForm(forms.ModelForm):
    # Yes or no, "no" unless the person says yes (an answer missing is a no).
    consent_to_publish = forms.ChoiceField(
        label=CONSENT_QUESTION,
        help_text=CONSENT_EXPLANATION,
        choices=[("yes", _("Yes")), ("no", _("No"))],
        required=False,
        initial="no",
        widget=forms.RadioSelect,
    )
    updates_opt_in = forms.BooleanField(label=UPDATES_QUESTION, required=False)

    class Meta:
        model = PublicComment
        fields = list(SUBMITTED_FIELDS)
        labels = {
            "comment": _("Your comment"),
            "name": _("Your name"),
            "email": _("Your e-mail address"),
            "union_name": _("Your union"),
            "country": _("Country"),
            "trade": _("Trade"),
            "role": _("Role in your union"),
            "language": _("Language of your comment"),
        }
        help_texts = {
            "name": _("Leave it empty to comment anonymously."),
            "email": _("Only if you want updates, or would like us to answer you."),
        }
        error_messages = {"comment": {"required": _("Please write your comment.")}}
        widgets = {
            "comment": forms.Textarea(attrs={"rows": 8}),
            "name": forms.TextInput(attrs={"autocomplete": "name"}),
            "email": forms.EmailInput(attrs={"autocomplete": "email"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        language = cast(forms.ChoiceField, self.fields["language"])
        language.choices = _language_choices()
        language.required = False
        self.initial.setdefault("language", active_language())
        limit = number_format(settings.PUBLIC_COMMENT_MAX_LENGTH, force_grouping=True)
        self.fields["comment"].help_text = _("Up to %(limit)s characters.") % {"limit": limit}

    def clean_language(self) -> str:
        return self.cleaned_data.get("language") or active_language()

    def clean_consent_to_publish(self) -> bool:
        return self.cleaned_data.get("consent_to_publish") == "yes"


def _status_choices() -> list[tuple[str, str]]:
    return [
        ("", str(_("Any status"))),
        *[(value, str(label)) for value, label in PublicComment.Status.choices],
    ]


class CommentFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Name, e-mail, union or words")}
        ),
    )
    status = forms.ChoiceField(label=_("Status"), required=False, choices=_status_choices)
    country = forms.ChoiceField(label=_("Country"), required=False, choices=any_country_choices)
    union = forms.ModelChoiceField(
        label=_("Union"),
        queryset=union_choices(),
        required=False,
        empty_label=_("Any union"),
    )

    def filters(self) -> CommentFilters:
        data = valid_fields(self)
        return CommentFilters(
            status=data.get("status", ""),
            country=data.get("country", ""),
            union=data.get("union"),
            q=data.get("q", ""),
        )


class ModerationForm(forms.Form):
    """The note that goes with a decision (review, publish, hide, spam)."""

    note = forms.CharField(
        label=_("Moderation note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Seen by staff only."),
    )


class CommentUnionForm(forms.Form):
    union = forms.ModelChoiceField(
        label=_("Union it speaks for"),
        queryset=Union.objects.order_by("name"),
        required=False,
        empty_label=_("Not recognised"),
    )


class CommentContactForm(forms.Form):
    """Link to a contact by number (empty: unlink)."""

    contact = forms.IntegerField(label=_("Contact number"), min_value=1, required=False)
