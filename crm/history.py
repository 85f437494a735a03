"""Readable change history of a record, from django-simple-history, in a fixed number of queries.

simple-history's own `diff_against` reads two many-to-many snapshots per field for every pair of
versions; a contact edited a hundred times would cost hundreds of queries. Here the versions,
their many-to-many snapshots and the names they point to are each read in one query.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import models
from django.utils import formats, timezone
from django.utils.translation import gettext as _

# Bookkeeping that changes on every save and says nothing a reader needs.
NOT_SHOWN = {"updated_at", "updated_by", "created_at", "created_by", "search_text"}
# One save writes a version for its fields, then one per many-to-many field it sets.
SAME_SAVE = timedelta(seconds=5)


@dataclass
class HistoryEntry:
    when: datetime
    who: Any
    kind: str  # "+" created, "~" changed, "-" deleted
    changes: list[tuple[str, str, str]] = field(default_factory=list)


def history_entries(*, obj: models.Model, limit: int = 20) -> list[HistoryEntry]:
    """The latest changes of `obj`, newest first, each with its fields' old and new values."""
    manager = obj.history  # type: ignore[attr-defined]
    # One more version than shown, so that the oldest shown one has something to compare with.
    records = list(
        manager.select_related("history_user").order_by("-history_date", "-history_id")[
            : limit * 3 + 1
        ]
    )
    if not records:
        return []
    model = type(obj)
    # Fields the history keeps (excluded_fields are not on the versions).
    scalar = [
        f
        for f in model._meta.concrete_fields
        if f.name not in NOT_SHOWN and not f.primary_key and hasattr(records[0], f.attname)
    ]
    tracked_m2m = [f for f in model._meta.many_to_many if hasattr(records[0], f.name)]
    m2m_values = _m2m_snapshots(records, tracked_m2m)
    names = _names(records, scalar, m2m_values, tracked_m2m)

    entries: list[HistoryEntry] = []
    carried: list[tuple[str, str, str]] = []
    for index, record in enumerate(records):
        older = records[index + 1] if index + 1 < len(records) else None
        if older is None and record.history_type != "+":
            break  # the version before this one is beyond what was read
        field_changes = _field_changes(record, older, scalar, names) if older else []
        m2m_changes = _m2m_changes(record, older, tracked_m2m, m2m_values, names) if older else []
        if (
            older is not None
            and record.history_type == "~"
            and m2m_changes
            and not field_changes
            and record.history_user_id == older.history_user_id
            and record.history_date - older.history_date <= SAME_SAVE
        ):
            # Setting many-to-many fields writes versions of its own after the save: show them
            # as part of that save.
            carried = _merged(newer=carried, older=m2m_changes)
            continue
        changes = _merged(newer=carried, older=field_changes + m2m_changes)
        carried = []
        if changes or record.history_type != "~":
            entries.append(
                HistoryEntry(
                    when=record.history_date,
                    who=record.history_user,
                    kind=record.history_type,
                    changes=changes,
                )
            )
        if len(entries) == limit:
            break
    return entries[:limit]


def _merged(
    *, newer: list[tuple[str, str, str]], older: list[tuple[str, str, str]]
) -> list[tuple[str, str, str]]:
    """Changes of two consecutive versions as one: a field changed in both goes from the older
    version's old value to the newer version's new value."""
    merged = {label: (old, new) for label, old, new in older}
    for label, old, new in newer:
        merged[label] = (merged[label][0], new) if label in merged else (old, new)
    return [(label, old, new) for label, (old, new) in merged.items() if old != new]


def _field_changes(
    record: Any, older: Any, fields: list[Any], names: dict[Any, dict[Any, str]]
) -> list[tuple[str, str, str]]:
    changes = []
    for model_field in fields:
        before, after = getattr(older, model_field.attname), getattr(record, model_field.attname)
        if before != after:
            changes.append(
                (
                    str(model_field.verbose_name),
                    _display(model_field, before, names),
                    _display(model_field, after, names),
                )
            )
    return changes


def _m2m_changes(
    record: Any,
    older: Any,
    fields: list[Any],
    values: dict[str, dict[int, set[Any]]],
    names: dict[Any, dict[Any, str]],
) -> list[tuple[str, str, str]]:
    changes = []
    for model_field in fields:
        before = values[model_field.name].get(older.history_id, set())
        after = values[model_field.name].get(record.history_id, set())
        if before != after:
            changes.append(
                (
                    str(model_field.verbose_name),
                    _m2m_display(model_field, before, names),
                    _m2m_display(model_field, after, names),
                )
            )
    return changes


def _m2m_display(model_field: Any, rows: set[Any], names: dict[Any, dict[Any, str]]) -> str:
    extras = _through_extras(model_field)
    shown = []
    for target_id, *values in rows:
        name = names[model_field.related_model].get(target_id, _("(deleted)"))
        details = [
            _display(extra, value, names) for extra, value in zip(extras, values, strict=True)
        ]
        shown.append(f"{name} ({', '.join(details)})" if details else name)
    return ", ".join(sorted(shown)) or "—"


def _m2m_snapshots(records: list[Any], fields: list[Any]) -> dict[str, dict[int, set[Any]]]:
    """For each many-to-many field: history id -> (target id, extra through values) at that version.

    Extra values are those of a custom through model (an attendee's role, say), shown beside the
    name so that a change of role is a change too.
    """
    from simple_history.utils import get_m2m_reverse_field_name

    ids = [record.history_id for record in records]
    snapshots: dict[str, dict[int, set[Any]]] = {}
    for model_field in fields:
        through = _snapshot_model(type(records[0]), model_field)
        target = get_m2m_reverse_field_name(model_field)
        extras = _through_extras(model_field)
        by_version: dict[int, set[Any]] = defaultdict(set)
        rows = through.objects.filter(history_id__in=ids).values_list(
            "history_id", f"{target}_id", *[extra.name for extra in extras]
        )
        for history_id, target_id, *extra_values in rows:
            by_version[history_id].add((target_id, *extra_values))
        snapshots[model_field.name] = by_version
    return snapshots


def _through_extras(model_field: Any) -> list[Any]:
    through = model_field.remote_field.through
    return [f for f in through._meta.concrete_fields if not f.is_relation and not f.primary_key]


def _snapshot_model(history_model: Any, model_field: Any) -> Any:
    """simple-history's model of a field's many-to-many snapshots: Historical<through model>."""
    wanted = f"Historical{model_field.remote_field.through.__name__}"
    for relation in history_model._meta.related_objects:
        if relation.related_model.__name__ == wanted:
            return relation.related_model
    raise LookupError(wanted)


def _names(
    records: list[Any],
    scalar: list[Any],
    m2m_values: dict[str, dict[int, set[Any]]],
    m2m: list[Any],
) -> dict[Any, dict[Any, str]]:
    """Display names of every object referred to, one query per related model."""
    wanted: dict[Any, set[Any]] = defaultdict(set)
    for model_field in scalar:
        if model_field.is_relation:
            wanted[model_field.related_model] |= {
                getattr(record, model_field.attname) for record in records
            } - {None}
    for model_field in m2m:
        for rows in m2m_values[model_field.name].values():
            wanted[model_field.related_model] |= {row[0] for row in rows}
    names: dict[Any, dict[Any, str]] = defaultdict(dict)
    for related_model, pks in wanted.items():
        # select_related(): some names are made from a related row (a site names its employer).
        rows = related_model._default_manager.filter(pk__in=pks).select_related()
        found = {item.pk: str(item) for item in rows}
        names[related_model] = {pk: found.get(pk, _("(deleted)")) for pk in pks}
    for model_field in m2m:
        names.setdefault(model_field.related_model, {})
    return names


def _display(model_field: Any, value: Any, names: dict[Any, dict[Any, str]]) -> str:
    if value is None or value == "":
        return "—"
    if model_field.is_relation:
        return names[model_field.related_model].get(value, _("(deleted)"))
    if isinstance(model_field, models.BooleanField):
        return _("Yes") if value else _("No")
    if model_field.flatchoices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(value, date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    return str(value)
