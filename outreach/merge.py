"""Merge fields of follow-up e-mails: a fixed, documented set, substituted as plain values.

Templates are written by staff, so they are not Django templates (which could reach into
objects): only the names below are replaced, and in the HTML part every value is escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.utils.html import escape
from django.utils.translation import gettext_lazy as _

FIELDS = {
    "first_name": _("the person's first name"),
    "last_name": _("the person's last name"),
    "full_name": _("the person's full name"),
    "union": _("the person's union (acronym)"),
    "consultation_title": _("the consultation's title"),
    "consultation_date": _("the consultation's date, in the person's time zone"),
    "sender_name": _("the name of the staff member sending"),
    "unsubscribe_url": _("the link to stop receiving e-mails"),
}
PATTERN = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Anything that looks like a field, to refuse what would otherwise reach a reader as "{{ x.y }}".
ANY_FIELD = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def unknown_fields(text: str) -> set[str]:
    return {name.strip() for name in ANY_FIELD.findall(text or "") if name.strip() not in FIELDS}


def render(text: str, values: Mapping[str, str], *, html: bool = False) -> str:
    def substitute(match: re.Match[str]) -> str:
        value = values.get(match.group(1), "")
        return str(escape(value)) if html else value

    return PATTERN.sub(substitute, text or "")
