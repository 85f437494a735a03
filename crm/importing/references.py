"""Names in a spreadsheet to the records they mean: unions, employers, sites, languages, tags.

Each table is read once per import (they are small next to contacts) and looked up in memory.
Missing employers, sites and tags are created as the import goes (in its transaction, so a dry
run or a failed import leaves none behind); missing unions only when the organizer asked.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from typing import Any

from django.utils.translation import get_language_info
from django.utils.translation import gettext as _

from crm.importing.cells import CellError, parse_text, shown, split_list
from crm.models import Employer, Language, Site, Union
from crm.services import tags_get_or_create
from crm.text import fold


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

    def union(self, value: str, country: str, *, kind: str = Union.Kind.NATIONAL_UNION) -> int:
        """The id of the union named (or abbreviated) `value`; the row's country breaks ties."""
        candidates = self.unions_by_key.get(fold(value), [])
        if len(candidates) > 1 and country:
            candidates = [c for c in candidates if c[1] == country] or candidates
        if len({union_id for union_id, _cc in candidates}) == 1:
            return candidates[0][0]
        if candidates:
            raise CellError(
                _("Several unions are called “%(value)s”: add the country to the row.")
                % {"value": shown(value)}
            )
        if self.create_unions:
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

    def _union_create(self, value: str, country: str, kind: str) -> int:
        if not country and kind != Union.Kind.GLOBAL_FEDERATION:
            raise CellError(
                _("“%(value)s” is not a known union: give the row's country so it can be created.")
                % {"value": shown(value)}
            )
        # Looking up a name with NUL in it merely finds nothing, but saving one would fail the
        # whole import: checked as every other text is.
        parse_text(value, limit=Union._meta.get_field("name").max_length)  # type: ignore[arg-type]
        union = Union(name=value, country=country, kind=kind)
        union.created_by_id = union.updated_by_id = self.user_id
        union._history_user = self._user()  # type: ignore[attr-defined]
        union.save()
        self._remember_union(union.pk, value, "", country)
        self.created_unions.append(value)
        return union.pk

    # Employers and sites ----------------------------------------------------------------------

    def employer(self, value: str) -> int:
        key = fold(value)
        if key not in self.employers:
            if len(value) > Employer._meta.get_field("name").max_length:  # type: ignore[operator]
                raise CellError(
                    _("“%(value)s” is too long for an employer.") % {"value": shown(value)},
                    field="employer",
                )
            employer = Employer(name=value, created_by_id=self.user_id, updated_by_id=self.user_id)
            employer._history_user = self._user()  # type: ignore[attr-defined]
            employer.save()
            self.employers[key] = employer.pk
            self.employer_labels[employer.pk] = value
            self.created_employers.append(value)
        return self.employers[key]

    def _remember_site(self, pk: int, employer_id: int, name: str, city: str) -> None:
        self.site_labels[pk] = name or city
        self.site_employers[pk] = employer_id
        if name:
            self.sites.setdefault((employer_id, fold(name)), pk)
        self.sites.setdefault((employer_id, fold(city)), pk)

    def employer_known(self, value: str) -> bool:
        return fold(value) in self.employers

    def site_known(self, value: str, employer_id: int) -> bool:
        return (employer_id, fold(value)) in self.sites

    def site(self, value: str, *, employer_id: int | None, country: str) -> int:
        """A site of the employer, by name or city; created (in `country`) when missing."""
        if employer_id is None:
            raise CellError(
                _("The site “%(value)s” needs an employer: fill in the employer column.")
                % {"value": shown(value)},
                field="site",
            )
        key = (employer_id, fold(value))
        if key not in self.sites:
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
            site._history_user = self._user()  # type: ignore[attr-defined]
            site.save()
            self._remember_site(site.pk, employer_id, value, value)
            self.created_sites.append(value)
        return self.sites[key]

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

    def _user(self) -> Any:
        from django.contrib.auth import get_user_model

        if self.user_id is None:
            return None
        return get_user_model().objects.filter(pk=self.user_id).first()
