"""Which spreadsheet column is which contact field: headers matched ignoring case, spaces, "_"
and "-", through a table of the names people actually use."""

from __future__ import annotations

import re
from dataclasses import dataclass

from crm.text import fold

# The importer's own column names, in the order an export writes them.
CONTACT_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "union",
    "union_role",
    "employer",
    "site",
    "country",
    "trade",
    "languages",
    "preferred_language",
    "timezone",
    "tags",
    "email_consent",
    "notes",
)
# A single "name" column holds both names; the importer splits it.
FULL_NAME = "full_name"

ALIASES = {
    "firstname": "first_name",
    "givenname": "first_name",
    "forename": "first_name",
    "prenom": "first_name",
    "vorname": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "familyname": "last_name",
    "nom": "last_name",
    "nachname": "last_name",
    "name": FULL_NAME,
    "fullname": FULL_NAME,
    "email": "email",
    "emailaddress": "email",
    "mail": "email",
    "phone": "phone",
    "phonenumber": "phone",
    "mobile": "phone",
    "mobilephone": "phone",
    "tel": "phone",
    "union": "union",
    "tradeunion": "union",
    "unionrole": "union_role",
    "role": "union_role",
    "employer": "employer",
    "company": "employer",
    "site": "site",
    "workplace": "site",
    "plant": "site",
    "country": "country",
    "land": "country",
    "pays": "country",
    "nation": "country",
    "trade": "trade",
    "occupation": "trade",
    "jobtitle": "trade",
    "languages": "languages",
    "language": "languages",
    "preferredlanguage": "preferred_language",
    "timezone": "timezone",
    "tz": "timezone",
    "tags": "tags",
    "emailconsent": "email_consent",
    "consent": "email_consent",
    "notes": "notes",
    "note": "notes",
    "comments": "notes",
    "comment": "notes",
    "remarks": "notes",
    "courriel": "email",
    "telefon": "phone",
    "telephone": "phone",
}


UNION_COLUMNS = (
    "name",
    "acronym",
    "country",
    "kind",
    "parent",
    "national_centre",
    "federation",
    "sectors",
    "members",
    "website",
    "notes",
)
UNION_ALIASES = {
    "name": "name",
    "union": "name",
    "unionname": "name",
    "acronym": "acronym",
    "abbreviation": "acronym",
    "shortname": "acronym",
    "country": "country",
    "land": "country",
    "pays": "country",
    "kind": "kind",
    "type": "kind",
    "parent": "parent",
    "parentunion": "parent",
    "nationalunion": "parent",
    "nationalcentre": "national_centre",
    "nationalcenter": "national_centre",
    "confederation": "national_centre",
    "federation": "federation",
    "globalfederation": "federation",
    "globalunion": "federation",
    "globalunionfederation": "federation",
    "sectors": "sectors",
    "sector": "sectors",
    "members": "members",
    "membership": "members",
    "membershipsize": "members",
    "website": "website",
    "web": "website",
    "url": "website",
    "notes": "notes",
    "comments": "notes",
}

CONSULTATION_COLUMNS = (
    "date",
    "title",
    "format",
    "status",
    "country",
    "city",
    "unions",
    "contacts",
    "topics",
    "concerns",
    "position",
    "summary",
    "staff",
)
CONSULTATION_ALIASES = {
    "date": "date",
    "when": "date",
    "startsat": "date",
    "datetime": "date",
    "title": "title",
    "subject": "title",
    "meeting": "title",
    "format": "format",
    "type": "format",
    "status": "status",
    "country": "country",
    "city": "city",
    "place": "city",
    "unions": "unions",
    "union": "unions",
    "contacts": "contacts",
    "attendees": "contacts",
    "participants": "contacts",
    "people": "contacts",
    "topics": "topics",
    "topic": "topics",
    "concerns": "concerns",
    "concern": "concerns",
    "position": "position",
    "summary": "summary",
    "notes": "summary",
    "staff": "staff",
    "lead": "staff",
    "stafflead": "staff",
}

COLUMNS_BY_KIND = {
    "contacts": (*CONTACT_COLUMNS, FULL_NAME),
    "unions": UNION_COLUMNS,
    "consultations": CONSULTATION_COLUMNS,
}
# What a file of each kind cannot do without: at least one of each group.
REQUIRED_BY_KIND = {
    "contacts": [{"first_name", "last_name", FULL_NAME}],
    "unions": [{"name"}],
    "consultations": [{"date"}, {"title"}],
}


def header_key(header: str) -> str:
    """ "E-mail Address", "email_address" and "EMAIL ADDRESS" all give "emailaddress"."""
    return re.sub(r"[\s_\-.]+", "", fold(header))


@dataclass(frozen=True)
class Mapping:
    """Column index -> field name; columns mapped to nothing are ignored."""

    fields: dict[int, str]
    unmatched: list[str]

    @property
    def has_name(self) -> bool:
        return bool({"first_name", "last_name", FULL_NAME} & set(self.fields.values()))

    def missing(self, kind: str) -> list[set[str]]:
        """The required groups of fields that no column holds."""
        mapped = set(self.fields.values())
        return [group for group in REQUIRED_BY_KIND[kind] if not group & mapped]


def detect_mapping(headers: list[str], kind: str = "contacts") -> Mapping:
    """The mapping the headers suggest. A field claimed twice keeps its first column."""
    aliases = {"contacts": ALIASES, "unions": UNION_ALIASES, "consultations": CONSULTATION_ALIASES}[
        kind
    ]
    fields: dict[int, str] = {}
    unmatched = []
    for index, header in enumerate(headers):
        field = aliases.get(header_key(header))
        if field and field not in fields.values():
            fields[index] = field
        elif header.strip():
            unmatched.append(header)
    return Mapping(fields=fields, unmatched=unmatched)


def split_full_name(value: str) -> tuple[str, str]:
    """ "Anna Kowalska" -> ("Anna", "Kowalska"); "Kowalska, Anna" -> ("Anna", "Kowalska")."""
    value = " ".join(value.split())
    if "," in value:
        last, _comma, first = value.partition(",")
        return first.strip(), last.strip()
    first, _space, last = value.rpartition(" ")
    return (first, last) if first else ("", last)
