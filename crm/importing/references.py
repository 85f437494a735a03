"""Names in a spreadsheet to the records they mean: unions, employers, sites, languages, tags.

Each table is read once per import (they are small next to contacts) and looked up in memory.
Missing employers, sites and tags are created as the import goes (in its transaction, so a dry
run or a failed import leaves none behind); missing unions only when the organizer asked.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.utils.translation import get_language_info
from django.utils.translation import gettext as _

from crm.importing.cells import CellError, parse_text, shown, split_list
from crm.models import Employer, Language, Site, Union
from crm.services import tags_get_or_create
from crm.text import fold

QUALIFIED = re.compile(r"^(?P<name>.+) \((?P<country>[A-Z]{2})\)$")


@dataclass(frozen=True)
class NewUnion:
    """A union a row names that the CRM lacks, to be created once the row is accepted."""

    name: str
    country: str


class References:
    def __init__(self, *, create_unions: bool, user_id: int | None) -> None:
        self.create_unions = create_unions
        self.user_id = user_id
        self.unions_by_key: dict[str, list[tuple[int, str]]] = defaultdict(list)  # key -> (id, cc)
        self.union_names: dict[str, str] = {}  # folded name -> name, for suggestions
        self.union_labels: dict[int, str] = {}  # id -> name, for previews
        for union_id, name, acronym, country in Union.objects.values_list(
            "id", "name", "acronym", "country"
        ):
            self._remember_union(union_id, name, acronym, country)
        self.employer_labels = dict(Employer.objects.values_list("id", "name"))
        self.employers = {fold(name): pk for pk, name in self.employer_labels.items()}
        # Names as written (ignoring case, as the unique index does) are looked up first:
        # "Müller GmbH" and "Muller GmbH" may both exist, and folding alone would mix them up.
        self.employers_exact = {name.lower(): pk for pk, name in self.employer_labels.items()}
        self.sites_exact: dict[tuple[int, str], int] = {}
        self.sites: dict[tuple[int, str], int] = {}
        self.site_labels: dict[int, str] = {}
        self.site_employers: dict[int, int] = {}
        for pk, employer_id, name, city in Site.objects.values_list(
            "id", "employer_id", "name", "city"
        ):
            self._remember_site(pk, employer_id, name, city)
        self.languages: dict[str, str] = {}
        for code, name in Language.objects.values_list("code", "name"):
            self.languages[code.casefold()] = code
            self.languages[fold(name)] = code
            try:
                info = get_language_info(code)
            except KeyError:
                continue
            self.languages[fold(info["name"])] = code
            self.languages[fold(info["name_local"])] = code
        self.tags: dict[str, int] = {}
        self.created_unions: list[str] = []
        self.created_employers: list[str] = []
        self.created_sites: list[str] = []
        self._suggestions: dict[str, list[str]] = {}

    # Unions -----------------------------------------------------------------------------------

    def _remember_union(self, union_id: int, name: str, acronym: str, country: str) -> None:
        self.unions_by_key[fold(name)].append((union_id, country))
        if acronym and fold(acronym) != fold(name):
            self.unions_by_key[fold(acronym)].append((union_id, country))
        self.union_names[fold(name)] = name
        self.union_labels[union_id] = name

    def union_deferred(self, value: str, country: str) -> int | NewUnion:
        """As union(), but a union to create is only checked, and created by created(): a row
        rejected later must not leave it behind."""
        try:
            return self.union(value, country, create=False)
        except CellError:
            if not self.create_unions or fold(value) in self.unions_by_key:
                raise
        self._union_check(value, country, Union.Kind.NATIONAL_UNION)
        return NewUnion(name=value, country=country)

    def created(self, union: int | NewUnion) -> int:
        """The id of a union found, or of one deferred: created now (once)."""
        if isinstance(union, int):
            return union
        return self.union(union.name, union.country)

    def resolved(self, union: int | NewUnion | None) -> int | NewUnion | None:
        """A deferred union's id if another row has created it meanwhile."""
        if isinstance(union, NewUnion):
            try:
                return self.union(union.name, union.country, create=False)
            except CellError:
                return union
        return union

    def union(
        self,
        value: str,
        country: str,
        *,
        kind: str = Union.Kind.NATIONAL_UNION,
        create: bool = True,
    ) -> int:
        """The id of the union named (or abbreviated) `value`; the row's country breaks ties.

        "Name (DE)" names the union of that country: how exports write a name several unions
        share.
        """
        candidates = self.unions_by_key.get(fold(value), [])
        qualified = QUALIFIED.match(value)
        if not candidates and qualified:
            candidates = [
                c for c in self.unions_by_key.get(fold(qualified["name"]), [])
                if c[1] == qualified["country"]
            ]  # fmt: skip
        if len(candidates) > 1 and country:
            candidates = [c for c in candidates if c[1] == country] or candidates
        if len({union_id for union_id, _cc in candidates}) == 1:
            return candidates[0][0]
        if candidates:
            raise CellError(
                _("Several unions are called “%(value)s”: add the country to the row.")
                % {"value": shown(value)}
            )
        if self.create_unions and create:
            return self._union_create(value, country, kind)
        suggestions = self._suggest(value)
        if suggestions:
            raise CellError(
                _("“%(value)s” is not a known union. Did you mean: %(suggestions)s?")
                % {"value": shown(value), "suggestions": "; ".join(suggestions)}
            )
        raise CellError(
            _("“%(value)s” is not a known union; add it first or choose “create missing unions”.")
            % {"value": shown(value)}
        )

    def _suggest(self, value: str) -> list[str]:
        if value not in self._suggestions:
            close = difflib.get_close_matches(fold(value), list(self.union_names), n=3, cutoff=0.6)
            self._suggestions[value] = [self.union_names[key] for key in close]
        return self._suggestions[value]

    def _union_check(self, value: str, country: str, kind: str) -> None:
        if not country and kind != Union.Kind.GLOBAL_FEDERATION:
            raise CellError(
                _("“%(value)s” is not a known union: give the row's country so it can be created.")
                % {"value": shown(value)}
            )
        # Looking up a name with NUL in it merely finds nothing, but saving one would fail the
        # whole import: checked as every other text is.
        parse_text(value, limit=Union._meta.get_field("name").max_length)  # type: ignore[arg-type]

    def _union_create(self, value: str, country: str, kind: str) -> int:
        self._union_check(value, country, kind)
        union = Union(name=value, country=country, kind=kind)
        union.created_by_id = union.updated_by_id = self.user_id
        union._history_user = self.user  # type: ignore[attr-defined]
        union.save()
        self._remember_union(union.pk, value, "", country)
        self.created_unions.append(value)
        return union.pk

    # Employers and sites ----------------------------------------------------------------------

    def _employer_id(self, value: str) -> int | None:
        return self.employers_exact.get(value.lower(), self.employers.get(fold(value)))

    def employer(self, value: str) -> int:
        found = self._employer_id(value)
        if found is None:
            if len(value) > Employer._meta.get_field("name").max_length:  # type: ignore[operator]
                raise CellError(
                    _("“%(value)s” is too long for an employer.") % {"value": shown(value)},
                    field="employer",
                )
            employer = Employer(name=value, created_by_id=self.user_id, updated_by_id=self.user_id)
            employer._history_user = self.user  # type: ignore[attr-defined]
            employer.save()
            self.employers[fold(value)] = self.employers_exact[value.lower()] = found = employer.pk
            self.employer_labels[employer.pk] = value
            self.created_employers.append(value)
        return found

    def _remember_site(self, pk: int, employer_id: int, name: str, city: str) -> None:
        self.site_labels[pk] = name or city
        self.site_employers[pk] = employer_id
        for written in (name, city) if name else (city,):
            self.sites.setdefault((employer_id, fold(written)), pk)
            self.sites_exact.setdefault((employer_id, written.lower()), pk)

    def _site_id(self, value: str, employer_id: int) -> int | None:
        return self.sites_exact.get(
            (employer_id, value.lower()), self.sites.get((employer_id, fold(value)))
        )

    def employer_known(self, value: str) -> bool:
        return self._employer_id(value) is not None

    def site_known(self, value: str, employer_id: int) -> bool:
        return self._site_id(value, employer_id) is not None

    def site(self, value: str, *, employer_id: int | None, country: str) -> int:
        """A site of the employer, by name or city; created (in `country`) when missing."""
        if employer_id is None:
            raise CellError(
                _("The site “%(value)s” needs an employer: fill in the employer column.")
                % {"value": shown(value)},
                field="site",
            )
        found = self._site_id(value, employer_id)
        if found is None:
            if not country:
                raise CellError(
                    _("The site “%(value)s” is new: give the row's country so it can be created.")
                    % {"value": shown(value)},
                    field="site",
                )
            if len(value) > Site._meta.get_field("city").max_length:  # type: ignore[operator]
                raise CellError(
                    _("“%(value)s” is too long for a site.") % {"value": shown(value)}, field="site"
                )
            site = Site(
                employer_id=employer_id,
                name=value,
                city=value,
                country=country,
                created_by_id=self.user_id,
                updated_by_id=self.user_id,
            )
            site._history_user = self.user  # type: ignore[attr-defined]
            site.save()
            self._remember_site(site.pk, employer_id, value, value)
            self.created_sites.append(value)
            found = site.pk
        return found

    # Languages and tags -----------------------------------------------------------------------

    def language(self, value: str) -> str:
        code = self.languages.get(value.casefold()) or self.languages.get(fold(value))
        if code is None:
            raise CellError(
                _("“%(value)s” is not a known language; use its code (de) or name (German).")
                % {"value": shown(value)}
            )
        return code

    def language_list(self, value: str) -> list[str]:
        return list(dict.fromkeys(self.language(item) for item in split_list(value)))

    def tag_ids(self, names: list[str]) -> list[int]:
        # A file has few distinct tags: each is looked up (as the database's unique index
        # compares names) or created once per import.
        for name in names:
            if name.casefold() not in self.tags:
                self.tags[name.casefold()] = tags_get_or_create(names=[name])[0].pk
        return list(dict.fromkeys(self.tags[name.casefold()] for name in names))

    @functools.cached_property
    def user(self) -> Any:
        """Who runs the import (for history rows), read once."""
        from django.contrib.auth import get_user_model

        if self.user_id is None:
            return None
        return get_user_model().objects.filter(pk=self.user_id).first()
