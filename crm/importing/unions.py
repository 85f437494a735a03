"""The union importer: name, acronym, country, kind, parent, national centre, federation,
sectors, members, website, notes.

A row matches the union of the same name (case and accents ignored) in the same country. As for
contacts, filled cells replace what is stored, empty ones never erase, and affiliations and
sectors are added. A parent, national centre or federation must exist or come earlier in the
file (rows without a parent are saved first), unless "create missing unions" is chosen.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from django.core.validators import URLValidator
from django.utils.translation import gettext as _

from crm import services
from crm.importing.cells import (
    CellError,
    parse_choice,
    parse_country,
    parse_text,
    same_text,
    split_list,
    split_names,
)
from crm.importing.files import Line
from crm.importing.records import Change, RecordImporter, RowRejectedError, outcome
from crm.models import Sector, Union
from crm.text import fold

AFFILIABLE = {Union.Kind.GLOBAL_FEDERATION, Union.Kind.NATIONAL_CENTRE}
THOUSANDS = re.compile(r"\d{1,3}([.,]\d{3})+")
WHOLE_DECIMAL = re.compile(r"\d+(\.0+)?")

KIND_WORDS = {
    "global": Union.Kind.GLOBAL_FEDERATION,
    "federation": Union.Kind.GLOBAL_FEDERATION,
    "global union": Union.Kind.GLOBAL_FEDERATION,
    "centre": Union.Kind.NATIONAL_CENTRE,
    "center": Union.Kind.NATIONAL_CENTRE,
    "confederation": Union.Kind.NATIONAL_CENTRE,
    "national": Union.Kind.NATIONAL_UNION,
    "union": Union.Kind.NATIONAL_UNION,
    "local": Union.Kind.LOCAL,
    "branch": Union.Kind.LOCAL,
    "lodge": Union.Kind.LOCAL,
}


def parse_kind(value: str) -> str:
    return parse_choice(
        value,
        Union.Kind.choices,
        message=_("“%(value)s” is not a kind of union; use one of: %(choices)s."),
        aliases=KIND_WORDS,
    )


def parse_members(value: str) -> int:
    text = value.replace(" ", "").replace("\u202f", "").replace("\xa0", "")
    # "." and "," are thousands separators only before groups of three digits ("1.200.000");
    # dropping them everywhere read "12000.0" (how pandas writes an integer column with gaps)
    # as 120,000. A decimal is a number of members only when its decimals are zeros.
    if THOUSANDS.fullmatch(text):
        digits = text.replace(",", "").replace(".", "")
    elif WHOLE_DECIMAL.fullmatch(text):
        digits = text.partition(".")[0]
    else:
        digits = ""
    if not digits.isdigit() or len(digits) > 9:
        raise CellError(_("“%(value)s” is not a number of members.") % {"value": value})
    return int(digits)


def parse_website(value: str) -> str:
    url = value if "://" in value else f"https://{value}"
    try:
        URLValidator(schemes=["http", "https"])(url)
    except Exception:
        raise CellError(_("“%(value)s” is not a web address.") % {"value": value}) from None
    return parse_text(url, limit=200)


@functools.cache
def _sectors() -> dict[str, str]:
    found = {}
    for slug, name in Sector.objects.values_list("slug", "name"):
        found[slug] = slug
        found[fold(slug.replace("-", " "))] = slug
        found[fold(name)] = slug
    return found


def parse_sectors(value: str) -> list[str]:
    sectors = _sectors()
    slugs = []
    for item in split_list(value):
        slug = sectors.get(fold(item)) or sectors.get(fold(item.replace("-", " ")))
        if slug is None:
            raise CellError(
                _("“%(value)s” is not a sector; use one of: %(choices)s.")
                % {"value": item, "choices": ", ".join(sorted(set(sectors.values())))}
            )
        slugs.append(slug)
    return list(dict.fromkeys(slugs))


def _names(value: str) -> list[str]:
    names = split_names(value)
    for name in names:
        parse_text(name, limit=200)
    return names


class UnionImporter(RecordImporter):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _sectors.cache_clear()
        self.parsers = [
            ("name", lambda v, _row: parse_text(v, limit=200)),
            ("acronym", lambda v, _row: parse_text(v, limit=50)),
            ("country", lambda v, _row: parse_country(v)),
            ("kind", lambda v, _row: parse_kind(v)),
            ("members", lambda v, _row: parse_members(v)),
            ("website", lambda v, _row: parse_website(v)),
            ("sectors", lambda v, _row: parse_sectors(v)),
            ("notes", lambda v, _row: parse_text(v, limit=10_000)),
            ("parent", lambda v, _row: parse_text(v, limit=200)),
            ("national_centre", lambda v, _row: _names(v)),
            ("federation", lambda v, _row: _names(v)),
        ]
        self.user = self.refs.user

    def ordered(self, rows: list[tuple[Line, dict[str, Any]]]) -> list[tuple[Line, dict[str, Any]]]:
        # Parents before their locals, whatever order the file lists them in.
        return sorted(rows, key=lambda row: "parent" in row[1])

    def field_column(self, model_field: str) -> str:
        return {"membership_size": "members", "affiliations": "federation"}.get(
            model_field, model_field
        )

    def _find(self, name: str, country: str) -> Union | None:
        # Accents are ignored as well as case ("Federation" is "Fédération"): name__iexact
        # found only different cases, and the file's "Federation ..." became a second union.
        # search_text starts with the folded name (stripped, as search_text is), so it narrows
        # the rows to compare.
        key = fold(name)
        matches = [
            u
            for u in Union.objects.filter(search_text__startswith=key.strip())
            if fold(u.name) == key
        ]
        # "Müller" and "Muller" may both exist: the one written as in the file comes first.
        matches.sort(key=lambda u: u.name.lower() != name.lower())
        if country:
            matches = [u for u in matches if u.country == country]
        elif len(matches) > 1:
            raise RowRejectedError(
                _("Several unions are called “%(value)s”: add the country.") % {"value": name},
                "name",
            )
        return matches[0] if matches else None

    def _reference(self, values: dict[str, Any], field: str, kind: str) -> list[Union]:
        country = "" if kind == Union.Kind.GLOBAL_FEDERATION else values.get("country", "")
        found = []
        for name in values.get(field) or []:
            try:
                other = Union.objects.get(pk=self.refs.union(name, country, kind=kind))
            except CellError as error:
                raise RowRejectedError(str(error), field) from None
            # Checked here rather than left to union_update, whose error names "affiliations":
            # the row's message must say which column and which union are wrong.
            if field != "parent" and other.kind not in AFFILIABLE:
                raise RowRejectedError(
                    _("“%(value)s” is a %(kind)s: a union is affiliated only to global "
                      "federations and national centres.")
                    % {"value": name, "kind": other.get_kind_display().lower()},
                    field,
                )  # fmt: skip
            found.append(other)
        return found

    def save(self, values: dict[str, Any]) -> tuple[str, str, list[Change]]:
        if "name" not in values:
            raise RowRejectedError(_("a union needs a name."), "name")
        name, country = values["name"], values.get("country", "")
        union = self._find(name, country)
        new = union is None
        data: dict[str, Any] = {}
        changes: list[Change] = []

        def put(field: str, value: Any, shown: Any = None) -> None:
            old = getattr(union, field) if union is not None else None
            if union is None or not same_text(old, value):
                data[field] = value
                if union is not None:
                    changes.append((field, str(old or ""), str(shown or value)))

        for column, field in (
            ("name", "name"),
            ("acronym", "acronym"),
            ("country", "country"),
            ("kind", "kind"),
            ("members", "membership_size"),
            ("website", "website"),
            ("notes", "notes"),
        ):
            if column in values:
                put(field, values[column])
        if new and "kind" not in values:
            data["kind"] = (
                Union.Kind.LOCAL
                if values.get("parent")
                else Union.Kind.NATIONAL_UNION
                if country
                else Union.Kind.GLOBAL_FEDERATION
            )
        if values.get("parent"):
            values["parent"] = [values["parent"]]
        for parent in self._reference(values, "parent", Union.Kind.NATIONAL_UNION):
            put("parent", parent, parent.name)
        affiliations = [
            *self._reference(values, "national_centre", Union.Kind.NATIONAL_CENTRE),
            *self._reference(values, "federation", Union.Kind.GLOBAL_FEDERATION),
        ]
        current = set(union.affiliations.all()) if union is not None else set()
        if set(affiliations) - current:
            data["affiliations"] = list(current | set(affiliations))
            if union is not None:
                changes.append(("affiliations", "", ", ".join(a.name for a in affiliations)))
        sectors = values.get("sectors", [])
        current_sectors = set(union.sectors.values_list("slug", flat=True)) if union else set()
        if set(sectors) - current_sectors:
            data["sectors"] = list(Sector.objects.filter(slug__in=current_sectors | set(sectors)))
            if union is not None:
                changes.append(("sectors", ", ".join(sorted(current_sectors)), ", ".join(sectors)))
        if union is None:
            union = services.union_create(data=data, by=self.user)
        elif data:
            union = services.union_update(union=union, data=data, by=self.user)
        self.refs._remember_union(union.pk, union.name, union.acronym, str(union.country))
        return outcome(new, changes), union.name, changes
