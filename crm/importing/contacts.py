"""The contact importer: spreadsheet rows to created, updated, unchanged or rejected contacts.

Rows are handled a chunk at a time: parsed and validated in Python, matched against the database
with one query per kind of key, applied to in-memory copies of the contacts, and written with
bulk statements (crm/importing/bulk.py), history rows included. The caller wraps the whole run in
one transaction; a dry run is the same run, rolled back.

Matching, in order: the email (case-insensitive) if the row has one, else the E.164 phone, else
the name (case and accents ignored) together with the union (or no union). A later row of the
same file matches a contact created by an earlier one.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.importing import bulk
from crm.importing.cells import (
    NAME_MAX,
    TEXT_MAX,
    CellError,
    parse_consent,
    parse_country,
    parse_email,
    parse_phone,
    parse_role,
    parse_tags,
    parse_text,
    parse_timezone,
    parse_trade,
    same_text,
    shown,
    unescape,
)
from crm.importing.files import Line
from crm.importing.headers import FULL_NAME, Mapping, split_full_name
from crm.importing.parallel import (
    can_fork,
    collect_chunk_garbage,
    collector_paused,
    parsed_in_child,
)
from crm.importing.references import NewUnion, References
from crm.models import (
    Consent,
    ConsentRecord,
    ConsentSource,
    Contact,
    Membership,
    contact_search_text,
)
from crm.text import fold, fold_prepare
from crm.timezones import default_timezone

CHUNK_ROWS = 2000
# How many contacts a preview may keep in memory rather than in the table: contacts it changed
# (ContactImporter._deferred_in_preview, about 400 bytes each) and contacts it created (Kept,
# about 1.2 kB each). Past these, they are written after all: memory stays bounded (a preview of
# 1,000,000 rows stays well under 400 MB, bench/imports.py).
PREVIEW_DEFERRED_MAX = 100_000
PREVIEW_KEPT_MAX = 75_000
SAMPLES_PER_STATUS = 10

CREATED, UPDATED, UNCHANGED, REJECTED = "created", "updated", "unchanged", "rejected"
STATUSES = (CREATED, UPDATED, UNCHANGED, REJECTED)

# Contact columns a row may set, as stored (foreign keys by their id column).
SCALARS = ("first_name", "last_name", "email", "phone", "country", "trade", "timezone", "notes")
STATE = (
    *SCALARS,
    "employer_id",
    "site_id",
    "preferred_language_id",
    "email_consent",
    "email_consent_at",
    "email_consent_source",
)
# Every column of crm_contact, in the order rows are written.
CONTACT_COLUMNS = [str(f.column) for f in Contact._meta.concrete_fields]
UPDATE_COLUMNS = [*STATE, "updated_at", "updated_by_id", "search_text"]
# What finding a contact reads from its row (crm_contact), rather than from its links.
MATCHED_COLUMNS = ("first_name", "last_name", "email", "phone")
_EMAIL, _PHONE = STATE.index("email"), STATE.index("phone")
_FIRST, _LAST = STATE.index("first_name"), STATE.index("last_name")
HISTORY_MODEL: Any = Contact.history.model
MEMBERSHIP_HISTORY: Any = Membership.history.model
TagLink: Any = Contact.tags.through
LanguageLink: Any = Contact.languages.through
CONTACT_TABLE = Contact._meta.db_table
TAG_LINKS = TagLink._meta.db_table
LANGUAGE_LINKS = LanguageLink._meta.db_table
MEMBERSHIPS = Membership._meta.db_table


def _snapshot_model(field_name: str) -> Any:
    through = Contact._meta.get_field(field_name).remote_field.through  # type: ignore[union-attr]
    for relation in HISTORY_MODEL._meta.related_objects:
        if relation.related_model.__name__ == f"Historical{through.__name__}":
            return relation.related_model
    raise LookupError(field_name)


@dataclass
class Sample:
    """A row shown in the preview: what happened to it and, for updates, what changed."""

    number: int
    status: str
    name: str
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    error: str = ""


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    samples: dict[str, list[Sample]] = field(default_factory=lambda: {s: [] for s in STATUSES})
    created_unions: list[str] = field(default_factory=list)
    created_employers: list[str] = field(default_factory=list)
    created_sites: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        return " ".join(f"{status}={self.counts[status]}" for status in STATUSES)


@dataclass(eq=False)
class Target:
    """A contact as the chunk leaves it, and as the chunk found it (`initial`)."""

    id: int | None
    state: dict[str, Any]
    tags: dict[int, int | None]  # tag id -> link id (None until written)
    languages: dict[str, int | None]  # language code -> link id
    # [membership id (None until written), union id, role, changed by this import]
    memberships: list[list[Any]]
    new: bool = False
    # Consent answers this import gave the contact, in order, for their consent records.
    consents: list[str] = field(default_factory=list)
    initial: dict[str, Any] = field(default_factory=dict)
    loaded_links: dict[str, dict[Any, int | None]] = field(default_factory=dict)
    # (first name, last name, email, their search text): folding names costs, and most updates
    # leave them as they were.
    search: tuple[str, str, str, str] | None = None

    def freeze(self) -> None:
        self.initial = self._comparable()
        self.loaded_links = {"tags": dict(self.tags), "languages": dict(self.languages)}

    def _comparable(self) -> dict[str, Any]:
        return {
            "state": dict(self.state),
            "tags": set(self.tags),
            "languages": set(self.languages),
            "memberships": {(m[1], m[2]) for m in self.memberships},
        }

    @property
    def changed(self) -> bool:
        return self.new or self.initial != self._comparable()

    @property
    def versioned(self) -> bool:
        """Changed in what the contact's history keeps: its columns, tags or languages.

        A change of membership only is recorded in the membership's own history; a contact
        version would repeat the one before it (simple-history writes none either).
        """
        now = self._comparable()
        return self.new or any(
            self.initial[key] != now[key] for key in ("state", "tags", "languages")
        )


@dataclass
class Row:
    line: Line
    values: dict[str, Any]
    errors: list[str]
    # The search text of the row's names and email: a contact the row creates has exactly these
    # (computed where the row is parsed, in the other process for a large file).
    search_text: str = ""

    @property
    def name_key(self) -> tuple[str, str]:
        return fold(self.values.get("first_name", "")), fold(self.values.get("last_name", ""))


class Kept:
    """The contacts a preview created, kept in memory instead of written.

    A preview is rolled back: writing its new contacts (rows, links, every index entry) only
    served the later rows of the file that match them. Here those rows find them by the same
    keys the database would: the email, the phone, and the folded names with each union. They
    go by negative ids, which the database never gives. About 1.2 kB each: plain tuples, and the
    names indexed only once a row of the file needs them.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # id -> (state in STATE's order, tag ids, language codes, ((union id, role), ...))
        self.records: dict[int, tuple[tuple[Any, ...], tuple[int, ...], tuple[str, ...], Any]] = {}
        self.by_email: dict[str, int] = {}
        self.by_phone: dict[str, tuple[int, ...]] = {}
        self.by_name: dict[tuple[str, str, int | None], tuple[int, ...]] | None = None
        self.next_id = -1

    def __len__(self) -> int:
        return len(self.records)

    def keep(self, target: Target) -> None:
        if target.id is None:
            target.id, self.next_id = self.next_id, self.next_id - 1
        pk = target.id
        old = self.records.get(pk)
        state = target.state
        record = (
            tuple(state[name] for name in STATE),
            tuple(target.tags),
            tuple(target.languages),
            tuple((m[1], m[2]) for m in target.memberships),
        )
        self.records[pk] = record
        # Its keys as they are now: a later row may have changed its phone, names or unions.
        # Not its email: a row with an email is matched by it, so it never sets another.
        if old is not None:
            _remove(self.by_phone, old[0][_PHONE], pk)
        _add(self.by_phone, record[0][_PHONE], pk)
        if state["email"]:
            self.by_email[state["email"].lower()] = pk
        if self.by_name is not None:
            if old is not None:
                for key in _name_keys(old):
                    _remove(self.by_name, key, pk)
            for key in _name_keys(record):
                _add(self.by_name, key, pk)

    def named(self, key: tuple[str, str, Any]) -> tuple[int, ...]:
        """The contacts kept with these folded names in this union (or none)."""
        if self.by_name is None:
            # The first row of the file found by its names alone: index those kept so far.
            self.by_name = {}
            for pk, record in self.records.items():
                for name_key in _name_keys(record):
                    _add(self.by_name, name_key, pk)
        return self.by_name.get(key, ())

    def target(self, pk: int) -> Target:
        state, tags, languages, memberships = self.records[pk]
        target = Target(
            id=pk,
            state=dict(zip(STATE, state, strict=True)),
            tags=dict.fromkeys(tags),
            languages=dict.fromkeys(languages),
            memberships=[[None, union_id, role, True] for union_id, role in memberships],
            new=True,
        )
        target.freeze()
        return target

    def has_email(self, pk: int) -> bool:
        return bool(self.records[pk][0][_EMAIL])

    def has_phone(self, pk: int) -> bool:
        return bool(self.records[pk][0][_PHONE])

    def drain(self) -> Iterator[list[Target]]:
        """Every contact kept, as targets to write, a chunk at a time; then none is kept."""
        ids = list(self.records)
        for start in range(0, len(ids), CHUNK_ROWS):
            batch = [self.target(pk) for pk in ids[start : start + CHUNK_ROWS]]
            for target in batch:
                target.id = None  # a real one is given when it is written
            yield batch
        self._reset()


def _name_keys(record: tuple[Any, ...]) -> list[tuple[str, str, int | None]]:
    state, _tags, _languages, memberships = record
    first, last = fold(state[_FIRST]), fold(state[_LAST])
    return [(first, last, union_id) for union_id, _role in memberships] or [(first, last, None)]


def _add(index: dict[Any, tuple[int, ...]], key: Any, pk: int) -> None:
    if key:
        index[key] = (*index.get(key, ()), pk)


def _remove(index: dict[Any, tuple[int, ...]], key: Any, pk: int) -> None:
    left = tuple(other for other in index.get(key, ()) if other != pk)
    if left:
        index[key] = left
    else:
        index.pop(key, None)


class ContactImporter:
    """One run over one file. Call run() inside a transaction."""

    def __init__(
        self,
        *,
        headers: list[str],
        mapping: Mapping,
        create_unions: bool = False,
        user_id: int | None = None,
        reason: str = "",
        on_rejected: Callable[[Line, str], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
        dry_run: bool = False,
        consent_question: str = "",
        import_job_id: int | None = None,
    ) -> None:
        self.dry_run = dry_run
        self.headers = headers
        self.import_job_id = import_job_id
        self.consent_question = consent_question.strip() or self._file_consent_question(
            headers, mapping
        )
        self.columns = sorted(mapping.fields.items())
        # Field -> the header of its column, for messages about the values of parsed rows.
        self.field_headers = {name: headers[index] for index, name in self.columns}
        self.user_id = user_id
        self.reason = reason[:100]
        self.on_rejected = on_rejected
        self.on_progress = on_progress
        self.refs = References(create_unions=create_unions, user_id=user_id)
        refs = self.refs
        self.parsers: list[tuple[str, Callable[[str, dict[str, Any]], Any]]] = [
            ("first_name", lambda v, _row: parse_text(v, limit=NAME_MAX)),
            ("last_name", lambda v, _row: parse_text(v, limit=NAME_MAX)),
            ("email", lambda v, _row: parse_email(v)),
            ("country", lambda v, _row: parse_country(v)),
            ("phone", lambda v, row: parse_phone(v, row.get("country", ""))),
            ("timezone", lambda v, _row: parse_timezone(v)),
            ("trade", lambda v, _row: parse_trade(v)),
            ("union_role", lambda v, _row: parse_role(v)),
            ("email_consent", lambda v, _row: parse_consent(v)),
            ("notes", lambda v, _row: parse_text(v, limit=TEXT_MAX)),
            ("languages", lambda v, _row: refs.language_list(v)),
            ("preferred_language", lambda v, _row: refs.language(v)),
            ("tags", lambda v, _row: parse_tags(v)),
            ("employer", lambda v, _row: parse_text(v, limit=200)),
            ("site", lambda v, _row: parse_text(v, limit=100)),
            ("union", lambda v, row: refs.union_deferred(v, row.get("country", ""))),
        ]
        self.summary = Summary()
        self.now = timezone.now()
        self.chunks = 0
        # Preview only: contact id -> its state (in STATE's order), changed by the file but not
        # written to the table; and the contacts it created.
        self.deferred: dict[int, tuple[tuple[Any, ...], str]] = {}  # (state, search text)
        self.kept = Kept()
        self.tag_history = _snapshot_model("tags")
        self.language_history = _snapshot_model("languages")

    @staticmethod
    def _file_consent_question(headers: list[str], mapping: Mapping) -> str:
        # What the record can say when the organizer did not: where the answer came from.
        column = next(
            (headers[index] for index, name in mapping.fields.items() if name == "email_consent"),
            "",
        )
        return _(
            "Not stated by the importer: the answer in the column “%(column)s” of an imported file."
        ) % {"column": column}

    def run(self, rows: Iterable[Line]) -> Summary:
        if bulk.is_postgresql() and not self.dry_run:
            # One import at a time: two files adding the same person at once would otherwise
            # both find no match and both create them. (A preview commits nothing: it need
            # not wait, nor make others wait.)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('crm.contact_import'))")
        with collector_paused():
            summary = self._run(iter(rows))
        if not self.dry_run:
            counts = summary.counts
            bulk.analyze_if_changed(
                Contact,
                counts[CREATED] + counts[UPDATED],
                [
                    TagLink,
                    LanguageLink,
                    Membership,
                    ConsentRecord,
                    HISTORY_MODEL,
                    MEMBERSHIP_HISTORY,
                    self.tag_history,
                    self.language_history,
                ],
            )
        return summary

    def _run(self, iterator: Iterator[Line]) -> Summary:
        chunks: Iterator[list[Line]] = iter(
            lambda: list(itertools.islice(iterator, CHUNK_ROWS)), []
        )
        first = next(chunks, [])
        parsed: Iterator[list[Row]] = map(self._parse_chunk, chunks)
        if len(first) == CHUNK_ROWS and can_fork():
            # More than a chunk: the rest is parsed in a second process meanwhile. What
            # folding needs is built first, once for both processes.
            fold_prepare()
            parsed = parsed_in_child(chunks, self._parse_chunk)
        done = 0
        try:
            for chunk in itertools.chain([self._parse_chunk(first)] if first else [], parsed):
                self._chunk(self._unions_rechecked(chunk))
                collect_chunk_garbage()
                done += len(chunk)
                if self.on_progress is not None:
                    self.on_progress(done)
        finally:
            # On an error, the parsing process is stopped now rather than whenever the
            # traceback that holds this frame is freed.
            if isinstance(parsed, Generator):
                parsed.close()
        self.summary.created_unions = self.refs.created_unions
        self.summary.created_employers = self.refs.created_employers
        self.summary.created_sites = self.refs.created_sites
        return self.summary

    # Parsing ------------------------------------------------------------------------------------

    def _parse_chunk(self, lines: list[Line]) -> list[Row]:
        return [self._parse(line) for line in lines]

    def _unions_rechecked(self, rows: list[Row]) -> list[Row]:
        """Unions to create looked up again, now that earlier chunks may have created them.

        A chunk parsed in the other process saw only the unions that existed when the import
        began; here it sees what a chunk parsed in this process would have seen.
        """
        for row in rows:
            union = row.values.get("union")
            if isinstance(union, NewUnion):
                try:
                    row.values["union"] = self.refs.union_deferred(union.name, union.country)
                except CellError as error:
                    del row.values["union"]
                    row.errors.append(
                        self._cell_message(row.line, self.field_headers["union"], error)
                    )
        return rows

    @staticmethod
    def _cell_message(line: Line, header: str, error: CellError) -> str:
        return _("Row %(row)d, column “%(column)s”: %(message)s") % {
            "row": line.number,
            "column": header,
            "message": error,
        }

    def _parse(self, line: Line) -> Row:
        values: dict[str, Any] = {}
        errors: list[str] = []
        raw: dict[str, tuple[str, str]] = {}  # field -> (header, cell text)
        for index, name in self.columns:
            cell = line[index] if index < len(line) else ""
            if cell:
                raw[name] = (self.headers[index], unescape(cell))
        if FULL_NAME in raw:
            header, cell = raw.pop(FULL_NAME)
            if "first_name" not in raw and "last_name" not in raw:
                first, last = split_full_name(cell)
                if first:
                    raw["first_name"] = (header, first)
                if last:
                    raw["last_name"] = (header, last)
        if "first_name" not in raw and "last_name" not in raw:
            errors.append(
                _("Row %(row)d: a first or a last name is needed.") % {"row": line.number}
            )
        # In this order: the phone is read for the row's country; the union comes last, so
        # that a row rejected for another reason does not create it.
        for name, parser in self.parsers:
            if name not in raw:
                continue
            if name == "union" and errors:
                break
            header, cell = raw[name]
            try:
                values[name] = parser(cell, values)
            except CellError as error:
                errors.append(self._cell_message(line, header, error))
        if "union_role" in values and "union" not in raw:
            header, cell = raw["union_role"]
            errors.append(
                _(
                    "Row %(row)d, column “%(column)s”: “%(value)s” is a role, "
                    "but the row has no union."
                )
                % {"row": line.number, "column": header, "value": shown(cell)}
            )
        if errors:
            return Row(line=line, values=values, errors=errors)
        search_text = contact_search_text(
            values.get("first_name", ""), values.get("last_name", ""), values.get("email", "")
        )
        return Row(line=line, values=values, errors=errors, search_text=search_text)

    # Matching -----------------------------------------------------------------------------------

    def _chunk(self, rows: list[Row]) -> None:
        valid = [row for row in rows if not row.errors]
        emails = {row.values["email"].lower() for row in valid if "email" in row.values}
        phones = {
            row.values["phone"]
            for row in valid
            if "phone" in row.values and "email" not in row.values
        }
        named = [row for row in valid if "email" not in row.values and "phone" not in row.values]

        # Raw SQL with one array parameter: the ORM's IN (%s, %s, …) of thousands of values
        # costs more to build than the query takes to run. lower(email) on non-empty emails is
        # what the unique index holds.
        by_email: dict[str, int] = dict(
            bulk.select(
                f"SELECT lower(email), id FROM {CONTACT_TABLE} WHERE email <> '' AND {{where}}",
                "lower(email)",
                sorted(emails),
            )
        )
        kept = self.kept
        for email in emails & kept.by_email.keys():
            by_email[email] = kept.by_email[email]
        by_phone: dict[str, list[int]] = defaultdict(list)
        # Who has neither an email nor a phone (among namesakes), or no email (among people
        # sharing a phone): a row that says no more than they do is theirs, for whoever else
        # matches would have had their email or phone in the row.
        self.no_email: set[int] = set()
        self.no_email_nor_phone: set[int] = set()
        for phone, pk, email in bulk.select(
            f"SELECT phone, id, email FROM {CONTACT_TABLE} WHERE {{where}}",
            "phone",
            sorted(phones),
        ):
            by_phone[phone].append(pk)
            if not email:
                self.no_email.add(pk)
        for phone in phones:
            for pk in kept.by_phone.get(phone, ()):
                by_phone[phone].append(pk)
                if not kept.has_email(pk):
                    self.no_email.add(pk)
        by_name = self._name_matches(named)

        wanted = set(by_email.values()) | {pk for ids in by_phone.values() for pk in ids}
        wanted |= {pk for ids in by_name.values() for pk in ids}
        targets = self._load(wanted)
        chunk_email: dict[str, Target] = {}
        chunk_phone: dict[str, Target] = {}
        chunk_name: dict[tuple[str, str, Any], Target] = {}
        touched: list[Target] = []
        touched_ids: set[int] = set()

        for row in rows:
            if row.errors:
                self._reject(row, "; ".join(row.errors))
                continue
            values = row.values
            target: Target | None
            if "email" in values:
                key = values["email"].lower()
                target = chunk_email.get(key) or (
                    targets[by_email[key]] if key in by_email else None
                )
            elif "phone" in values:
                target = chunk_phone.get(values["phone"])
                if target is None:
                    found = _narrowed(by_phone.get(values["phone"], []), self.no_email)
                    if len(found) > 1:
                        self._reject(
                            row,
                            _(
                                "Row %(row)d: %(count)d contacts have the phone %(value)s; add "
                                "an email to say which one."
                            )
                            % {
                                "row": row.line.number,
                                "count": len(found),
                                "value": values["phone"],
                            },
                        )
                        continue
                    target = targets[found[0]] if found else None
            else:
                name_key = (*row.name_key, self.refs.resolved(values.get("union")))
                target = chunk_name.get(name_key)
                if target is None:
                    found = _narrowed(by_name.get(name_key, []), self.no_email_nor_phone)
                    if len(found) > 1:
                        self._reject(
                            row,
                            _(
                                "Row %(row)d: %(count)d contacts have this name%(where)s; add an "
                                "email or a phone to say which one."
                            )
                            % {
                                "row": row.line.number,
                                "count": len(found),
                                "where": _(" in this union") if values.get("union") else "",
                            },
                        )
                        continue
                    target = targets[found[0]] if found else None
            new = target is None
            if target is None:
                target = Target(
                    id=None, state=_empty_state(), tags={}, languages={}, memberships=[], new=True
                )
                target.freeze()
                target.search = (
                    values.get("first_name", ""),
                    values.get("last_name", ""),
                    values.get("email", ""),
                    row.search_text,
                )
            try:
                # _apply raises before it changes anything, so a rejected row leaves no trace.
                changes = self._apply(row, target)
            except CellError as error:
                # Named like the errors of parsing: the row, the column and the value.
                column = self.field_headers.get(error.field)
                message = (
                    _("Row %(row)d, column “%(column)s”: %(message)s")
                    if column
                    else _("Row %(row)d: %(message)s")
                )
                self._reject(
                    row, message % {"row": row.line.number, "column": column, "message": error}
                )
                continue
            if new or changes:
                if id(target) not in touched_ids:
                    touched_ids.add(id(target))
                    touched.append(target)
                self._count(row, CREATED if new else UPDATED, target, changes)
            else:
                self._count(row, UNCHANGED, target, changes)
            state = target.state
            if state["email"]:
                chunk_email[state["email"].lower()] = target
            if state["phone"]:
                chunk_phone[state["phone"]] = target
            if named:  # folding names costs; only rows without email or phone need them
                first, last = fold(state["first_name"]), fold(state["last_name"])
                for _id, union_id, _role, _changed in target.memberships:
                    chunk_name[(first, last, union_id)] = target
                if not target.memberships:
                    chunk_name[(first, last, None)] = target
        self._write([t for t in touched if t.changed])

    def _name_matches(self, rows: list[Row]) -> dict[tuple[str, str, Any], list[int]]:
        """Contacts with the same folded names as the rows, in the row's union (or none)."""
        if not rows:
            return {}
        prefixes = {contact_search_text(*row.name_key, "") for row in rows}
        wanted = {(*row.name_key, row.values.get("union")) for row in rows}
        found: dict[tuple[str, str, Any], list[int]] = defaultdict(list)
        candidates: list[tuple[int, str, str, str, str]] = []
        ordered = sorted(prefixes)
        # One query per chunk; on SQLite a few hundred names per query, as it refuses an
        # expression deeper than 1,000.
        step = len(ordered) if bulk.is_postgresql() else 200
        for start in range(0, len(ordered), step):
            condition = Q()
            for prefix in ordered[start : start + step]:
                condition |= Q(search_text__startswith=prefix)
            candidates += Contact.objects.filter(condition).values_list(
                "id", "first_name", "last_name", "email", "phone"
            )
        # A contact named "Dvořák-12" answers the prefix "dvořák-1" too, maybe in two batches.
        candidates = list({row[0]: row for row in candidates}.values())
        self.no_email_nor_phone = {c[0] for c in candidates if not c[3] and not c[4]}
        unions: dict[int, set[int | None]] = defaultdict(set)
        for contact_id, in_union in Membership.objects.filter(
            _current(), contact_id__in=[c[0] for c in candidates]
        ).values_list("contact_id", "union_id"):
            unions[contact_id].add(in_union)
        for pk, first, last, _email, _phone in candidates:
            names = (fold(first), fold(last))
            for member_of in unions[pk] or {None}:
                key = (*names, member_of)
                if key in wanted:
                    found[key].append(pk)
        for key in wanted:
            for pk in self.kept.named(key):
                found[key].append(pk)
                if not self.kept.has_email(pk) and not self.kept.has_phone(pk):
                    self.no_email_nor_phone.add(pk)
        return found

    def _load(self, ids: set[int]) -> dict[int, Target]:
        targets = {pk: self.kept.target(pk) for pk in ids if pk < 0}
        wanted = sorted(pk for pk in ids if pk > 0)
        if not wanted:
            return targets
        # Staff may be editing some of these people right now: their edit waits for the
        # import rather than being overwritten by values read before it.
        lock = connection.features.has_select_for_update and not self.dry_run
        for pk, *values, search_text in bulk.select(
            f"SELECT id, {', '.join(STATE)}, search_text FROM {CONTACT_TABLE} WHERE {{where}} "
            f"ORDER BY id{' FOR UPDATE' if lock else ''}",
            "id",
            wanted,
        ):
            # What a preview changed and kept rather than wrote, if it did; the columns it
            # finds the contact by are the same in both.
            if pk in self.deferred:
                values, search_text = self.deferred[pk]
            state = dict(zip(STATE, values, strict=True))
            targets[pk] = Target(
                id=pk,
                state=state,
                tags={},
                languages={},
                memberships=[],
                search=(state["first_name"], state["last_name"], state["email"], search_text),
            )
        for link_id, contact_id, tag_id in bulk.select(
            f"SELECT id, contact_id, tag_id FROM {TAG_LINKS} WHERE {{where}}", "contact_id", wanted
        ):
            targets[contact_id].tags[tag_id] = link_id
        for link_id, contact_id, code in bulk.select(
            f"SELECT id, contact_id, language_id FROM {LANGUAGE_LINKS} WHERE {{where}}",
            "contact_id",
            wanted,
        ):
            targets[contact_id].languages[code] = link_id
        # Current as _current() says: no end, or an end not passed yet.
        for membership in bulk.select(
            f"SELECT id, contact_id, union_id, role FROM {MEMBERSHIPS} "
            "WHERE (end_date IS NULL OR end_date >= %s) AND {where}",
            "contact_id",
            wanted,
            [timezone.localdate()],
        ):
            targets[membership[1]].memberships.append(
                [membership[0], membership[2], membership[3], False]
            )
        for target in targets.values():
            target.freeze()
        return targets

    # Applying -----------------------------------------------------------------------------------

    def _apply(self, row: Row, target: Target) -> list[tuple[str, Any, Any]]:
        """Copy the row's non-empty values onto the contact; the list of what changed."""
        values = row.values
        state = target.state
        changes: list[tuple[str, Any, Any]] = []
        new_state = dict(state)
        for name in SCALARS:
            if name in values:
                new_state[name] = values[name]
        if "email" in values and values["email"].lower() == state["email"].lower():
            # The same address written in other letter cases: what is stored stays.
            new_state["email"] = state["email"]
        if "notes" in values and same_text(state["notes"], values["notes"]):
            # The same note with other line endings (XLSX turns a text area's \r\n into \n):
            # what is stored stays, so that an exported file imports back unchanged.
            new_state["notes"] = state["notes"]
        if (
            "site" in values
            and "employer" in values
            and not new_state["country"]
            and not self.refs.employer_known(values["employer"])
        ):
            # Checked before the employer is created: the site would be new too, and cannot be.
            raise CellError(
                _("The site “%(value)s” is new: give the row's country so it can be created.")
                % {"value": shown(values["site"])},
                field="site",
            )
        if "employer" in values:
            new_state["employer_id"] = self.refs.employer(values["employer"])
        if "site" in values:
            site_id = self.refs.site(
                values["site"],
                employer_id=new_state["employer_id"],
                country=new_state["country"],
            )
            new_state["site_id"] = site_id
        elif (
            new_state["site_id"] is not None
            and new_state["employer_id"] != state["employer_id"]
            and self.refs.site_employers.get(new_state["site_id"]) != new_state["employer_id"]
        ):
            # A new employer and no site given: the old employer's site is not where the person
            # works any more (and Contact.clean refuses a site of another employer).
            new_state["site_id"] = None
        if "preferred_language" in values:
            new_state["preferred_language_id"] = values["preferred_language"]
        consent = None
        if "email_consent" in values and values["email_consent"] != state["email_consent"]:
            consent = new_state["email_consent"] = values["email_consent"]
            new_state["email_consent_at"] = self.now
            new_state["email_consent_source"] = ConsentSource.IMPORT
        if (
            not new_state["timezone"]
            and new_state["country"]
            and (target.new or "country" in values)
        ):
            # Derived from a country this row gives (or for a new contact), never on its own:
            # a blank cell changes nothing.
            new_state["timezone"] = default_timezone(new_state["country"]) or ""
        languages = dict(target.languages)
        if "languages" in values:
            # A language an earlier row of the chunk took away and this one gives back keeps
            # the link it had: it was never deleted.
            had = target.loaded_links.get("languages", {})
            languages = {
                code: target.languages.get(code, had.get(code)) for code in values["languages"]
            }
        if (
            new_state["preferred_language_id"]
            and new_state["preferred_language_id"] not in languages
        ):
            languages[new_state["preferred_language_id"]] = None
        tags = dict(target.tags)
        for tag_id in self.refs.tag_ids(values.get("tags", [])):
            tags.setdefault(tag_id, None)

        # Raw (field, old, new): put into words only for the few rows the preview shows.
        for name in STATE:
            if new_state[name] != state[name] and name != "email_consent_at":
                changes.append((name, state[name], new_state[name]))
        if languages.keys() != target.languages.keys():
            changes.append(("languages", sorted(target.languages), sorted(languages)))
        if tags.keys() != target.tags.keys():
            changes.append(("tags", len(target.tags), len(tags)))
        membership_change = self._membership(values, target)
        if membership_change:
            changes.append(membership_change)
        target.state, target.languages, target.tags = new_state, languages, tags
        if consent is not None:
            target.consents.append(consent)
        return changes

    def _membership(self, values: dict[str, Any], target: Target) -> tuple[str, Any, Any] | None:
        if "union" not in values:
            return None
        # Created only now, once nothing else can reject the row.
        union_id = values["union"] = self.refs.created(values["union"])
        role = values.get("union_role")
        current = [m for m in target.memberships if m[1] == union_id]
        if not current:
            role = role or Membership.Role.MEMBER
            target.memberships.append([None, union_id, role, True])
            return ("union", None, (union_id, role))
        if role is None or any(m[2] == role for m in current):
            return None
        if len(current) == 1:
            old = current[0][2]
            current[0][2], current[0][3] = role, True
            return ("union", (union_id, old), (union_id, role))
        target.memberships.append([None, union_id, role, True])
        return ("union", None, (union_id, role))

    def _described(self, changes: list[tuple[str, Any, Any]]) -> list[tuple[str, str, str]]:
        """Changes as the preview shows them: the field's label, the old and the new value."""
        names = {
            "employer_id": self.refs.employer_labels,
            "site_id": self.refs.site_labels,
        }
        roles = dict(Membership.Role.choices)
        described = []
        for name, old, new in changes:
            if name in names:
                old, new = names[name].get(old, ""), names[name].get(new, "")
            if name == "union":
                old, new = (
                    f"{self.refs.union_labels.get(value[0], '')} ({roles.get(value[1], '')})"
                    if value
                    else ""
                    for value in (old, new)
                )
                label = _("union membership")
            elif name == "languages":
                old, new, label = ", ".join(old), ", ".join(new), _("languages")
            elif name == "tags":
                old, new = (_("%(count)d tags") % {"count": value} for value in (old, new))
                label = _("tags")
            else:
                field_label = Contact._meta.get_field(name.removesuffix("_id"))
                label = getattr(field_label, "verbose_name", name)
            described.append(
                (str(label), "" if old is None else str(old), "" if new is None else str(new))
            )
        return described

    # Counting -----------------------------------------------------------------------------------

    def _count(self, row: Row, status: str, target: Target, changes: list[Any]) -> None:
        self.summary.counts[status] += 1
        samples = self.summary.samples[status]
        if len(samples) < SAMPLES_PER_STATUS:
            name = " ".join(p for p in (target.state["first_name"], target.state["last_name"]) if p)
            samples.append(
                Sample(
                    number=row.line.number,
                    status=status,
                    name=name,
                    changes=self._described(changes) if status == UPDATED else [],
                )
            )

    def _reject(self, row: Row, message: str) -> None:
        self.summary.counts[REJECTED] += 1
        samples = self.summary.samples[REJECTED]
        if len(samples) < SAMPLES_PER_STATUS:
            name = " ".join(
                p for p in (row.values.get("first_name", ""), row.values.get("last_name", "")) if p
            )
            samples.append(
                Sample(number=row.line.number, status=REJECTED, name=name, error=message)
            )
        if self.on_rejected is not None:
            self.on_rejected(row.line, message)

    # Writing ------------------------------------------------------------------------------------

    def _write(self, targets: list[Target]) -> None:
        if self.dry_run:
            for target in targets:
                if target.new:
                    self.kept.keep(target)
            targets = [t for t in targets if not t.new]
            if len(self.kept) > PREVIEW_KEPT_MAX:
                for batch in self.kept.drain():
                    self._write_rows(batch)
        self._write_rows(targets)

    def _write_rows(self, targets: list[Target]) -> None:
        if not targets:
            return
        new = [t for t in targets if t.new]
        for target, pk in zip(new, bulk.allocate_ids(Contact, len(new)), strict=True):
            target.id = pk
        rows = [self._contact_values(t) for t in targets]
        bulk.insert_rows(
            Contact,
            CONTACT_COLUMNS,
            [
                [row[c] for c in CONTACT_COLUMNS]
                for row, t in zip(rows, targets, strict=True)
                if t.new
            ],
        )
        updated = {id(t) for t in targets if not t.new and t.initial["state"] != t.state}
        if self.dry_run:
            updated = self._deferred_in_preview(updated, targets)
        bulk.update_rows(
            Contact,
            UPDATE_COLUMNS,
            [
                [t.id, *[row[c] for c in UPDATE_COLUMNS]]
                for row, t in zip(rows, targets, strict=True)
                if id(t) in updated
            ],
        )
        self._write_links(targets)
        # History rows are copies of what was just written: made by the database from the
        # rows themselves rather than sent again. Each chunk's rows share a timestamp of their
        # own, which is how the snapshots of tags and languages find their version.
        stamp = self.now + timedelta(microseconds=self.chunks)
        self.chunks += 1
        self._write_memberships(targets, stamp)
        if self.dry_run:
            # Nothing of a preview is kept and nothing in it reads history back: a third of a
            # preview's database time saved.
            return
        self._write_consents(targets)
        ids = [t.id for t in targets if t.id is not None and t.versioned]
        bulk.history_copy(
            model=Contact,
            history=HISTORY_MODEL,
            ids=ids,
            created={t.id for t in targets if t.new and t.id is not None},
            stamp=stamp,
            reason=self.reason or None,
            user_id=self.user_id,
        )
        for model, through in ((self.tag_history, TagLink), (self.language_history, LanguageLink)):
            bulk.history_snapshot(
                snapshot=model,
                through=through,
                history=HISTORY_MODEL,
                ids=ids,
                stamp=stamp,
            )

    def _deferred_in_preview(self, updated: set[int], targets: list[Target]) -> set[int]:
        """The updates a preview must still write: those that change how the contact is found.

        A preview is rolled back, and an UPDATE of every matched contact (each row version, each
        index entry) cost most of its database time. Only later rows of the file read the
        contacts again: by their email, phone and names (which are written), and by id when they
        match one, where _load takes the state kept here. Past PREVIEW_DEFERRED_MAX contacts,
        those kept are written after all, so that memory stays bounded whatever the file.
        """
        written = set()
        for target in targets:
            if id(target) not in updated:
                continue
            assert target.id is not None
            found_by = target.initial["state"]
            if all(target.state[name] == found_by[name] for name in MATCHED_COLUMNS):
                assert target.search is not None  # set by _contact_values
                self.deferred[target.id] = (
                    tuple(target.state[name] for name in STATE),
                    target.search[3],
                )
            else:
                # Written whole now: what was kept of it is out of date.
                self.deferred.pop(target.id, None)
                written.add(id(target))
        if len(self.deferred) > PREVIEW_DEFERRED_MAX:
            stamp = {"updated_at": self.now, "updated_by_id": self.user_id}
            rows = []
            for pk, (state, search_text) in self.deferred.items():
                # By name, as _contact_values gives them: UPDATE_COLUMNS says the order.
                values = {**dict(zip(STATE, state, strict=True)), **stamp}
                values["search_text"] = search_text
                rows.append([pk, *[values[name] for name in UPDATE_COLUMNS]])
            bulk.update_rows(Contact, UPDATE_COLUMNS, rows)
            self.deferred.clear()
        return written

    def _write_consents(self, targets: list[Target]) -> None:
        """One consent record per answer the file changed (crm.ConsentRecord)."""
        bulk.insert_rows(
            ConsentRecord,
            [
                "contact_id",
                "question",
                "answer",
                "source",
                "recorded_at",
                "recorded_by_id",
                "import_job_id",
            ],
            [
                [
                    t.id,
                    self.consent_question,
                    answer,
                    ConsentSource.IMPORT,
                    self.now,
                    self.user_id,
                    self.import_job_id,
                ]
                for t in targets
                for answer in t.consents
            ],
        )

    def _contact_values(self, target: Target) -> dict[str, Any]:
        state = target.state
        # What an import sets only on the people it creates; an update leaves it as it is.
        created = (
            {"created_at": self.now, "created_by_id": self.user_id, "do_not_contact": False}
            if target.new
            else {}
        )
        names = (state["first_name"], state["last_name"], state["email"])
        if target.search is None or target.search[:3] != names:
            target.search = (*names, contact_search_text(*names))
        return {
            **state,
            **created,
            "id": target.id,
            "updated_at": self.now,
            "updated_by_id": self.user_id,
            "search_text": target.search[3],
        }

    def _write_links(self, targets: list[Target]) -> None:
        for model, attribute, column in (
            (TagLink, "tags", "tag_id"),
            (LanguageLink, "languages", "language_id"),
        ):
            removed = [
                link
                for t in targets
                for key, link in t.loaded_links.get(attribute, {}).items()
                if key not in getattr(t, attribute) and link is not None
            ]
            bulk.delete_rows(model, "id", removed)
            added = [
                (t, key)
                for t in targets
                for key, link in getattr(t, attribute).items()
                if link is None
            ]
            ids = bulk.allocate_ids(model, len(added))
            for (t, key), pk in zip(added, ids, strict=True):
                getattr(t, attribute)[key] = pk
            bulk.insert_rows(
                model,
                ["id", "contact_id", column],
                [[pk, t.id, key] for (t, key), pk in zip(added, ids, strict=True)],
            )

    def _write_memberships(self, targets: list[Target], stamp: datetime) -> None:
        added = [(t, m) for t in targets for m in t.memberships if m[0] is None]
        updated = [(t, m) for t in targets for m in t.memberships if m[3] and m[0] is not None]
        for (_t, membership), pk in zip(
            added, bulk.allocate_ids(Membership, len(added)), strict=True
        ):
            membership[0] = pk
        bulk.insert_rows(
            Membership,
            ["id", "contact_id", "union_id", "role", "start_date", "end_date"],
            [[m[0], t.id, m[1], m[2], None, None] for t, m in added],
        )
        bulk.update_rows(Membership, ["role"], [[m[0], m[2]] for _t, m in updated])
        if not self.dry_run:
            bulk.history_copy(
                model=Membership,
                history=MEMBERSHIP_HISTORY,
                ids=[m[0] for _t, m in added + updated],
                created={m[0] for _t, m in added},
                stamp=stamp,
                reason=self.reason or None,
                user_id=self.user_id,
            )
        changed = added + updated
        for _t, m in changed:
            m[3] = False


def _narrowed(found: list[int], bare: set[int]) -> list[int]:
    """Several matches narrowed to the one without the details the row lacks, if exactly one."""
    if len(found) > 1:
        only = [pk for pk in found if pk in bare]
        if len(only) == 1:
            return only
    return found


def _current() -> Q:
    # Current as the contact pages and exports count it (crm.selectors): a membership ending
    # next month is still held, and an exported row naming it must match it, not add another.
    return Q(end_date__isnull=True) | Q(end_date__gte=timezone.localdate())


def _empty_state() -> dict[str, Any]:
    state: dict[str, Any] = dict.fromkeys(STATE, "")
    state.update(
        employer_id=None,
        site_id=None,
        preferred_language_id=None,
        email_consent=Consent.UNKNOWN,
        email_consent_at=None,
    )
    return state
