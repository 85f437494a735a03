"""Finding and removing an erased person's identifiers in free text, JSON and files.

Used by crm.privacy.services.contact_erase. Matching is on what identifies the person (full name
either way round, e-mail addresses, phone numbers), case-insensitive; never on a first name
alone, which other people share.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import phonenumbers

# The file-based e-mail backend separates messages with a line of 79 dashes.
_MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


@dataclass
class Identifiers:
    """What identifies one person in text, and what takes its place."""

    placeholder: str
    # Matched anywhere: only strings that identify the person by themselves.
    strong: set[str] = field(default_factory=set)
    # Matched only in records already known to be about the person (their follow-ups, the
    # consultations they attended): a surname alone would hit namesakes elsewhere.
    linked: set[str] = field(default_factory=set)

    def add_person(self, first_name: str, last_name: str, email: str, phone: str) -> None:
        first, last = " ".join(first_name.split()), " ".join(last_name.split())
        if first and last:
            self.strong |= {f"{first} {last}", f"{last} {first}", f"{last}, {first}"}
            if len(last) >= 3:
                self.linked.add(last)
        elif first or last:
            # A person known by one name: looked for only where they were, like a surname.
            self.linked.add(first or last)
        if email.strip():
            self.strong.add(email.strip())
        if phone.strip():
            self.strong |= phone_forms(phone.strip())

    def pattern(self, *, linked: bool) -> re.Pattern[str] | None:
        words = self.strong | (self.linked if linked else set())
        words = {word for word in words if word and word != self.placeholder}
        if not words:
            return None
        # Longest first, so that "Anna Berg" is replaced whole rather than "Berg" inside it.
        alternatives = sorted(words, key=len, reverse=True)
        # Any run of white space between the words: text typed by hand ("Anna  Maria Nowak",
        # a line break inside a name) names the person as much as the record does.
        return re.compile(
            "|".join(
                r"\s+".join(re.escape(part) for part in word.split()) for word in alternatives
            ),
            re.IGNORECASE,
        )

    def lookups(self, *, linked: bool = False) -> list[str]:
        """Substrings to find candidate rows with (icontains); the regex decides. A name of
        several words is looked up by its longest word, which any spacing of it contains."""
        words = self.strong | (self.linked if linked else set())
        return sorted(
            {max(word.split(), key=len) for word in words if word and word != self.placeholder}
        )


def phone_forms(phone: str) -> set[str]:
    """A stored E.164 number as people write it: international, national, digits only."""
    forms = {phone}
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return forms
    for style in (
        phonenumbers.PhoneNumberFormat.E164,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        phonenumbers.PhoneNumberFormat.NATIONAL,
    ):
        forms.add(phonenumbers.format_number(number, style))
    forms.add(str(number.national_number))
    # Too short a string would match unrelated numbers (a year, a count).
    return {form for form in forms if len(re.sub(r"\D", "", form)) >= 6}


def scrub_text(text: str, pattern: re.Pattern[str] | None, placeholder: str) -> str:
    if not text or pattern is None:
        return text
    return pattern.sub(placeholder, text)


def scrub_json(
    value: Any,
    pattern: re.Pattern[str] | None,
    placeholder: str,
    *,
    linked: re.Pattern[str] | None = None,
) -> Any:
    """A copy of a JSON value with every string scrubbed (keys too).

    With `linked`, an object that names the person (a previewed row: its name and its changes)
    is scrubbed with that wider pattern, so that a surname changed on its own goes too.
    """
    if isinstance(value, str):
        return scrub_text(value, pattern, placeholder)
    if isinstance(value, dict | list) and linked is not None and _names(value, pattern):
        return scrub_json(value, linked, placeholder)
    if isinstance(value, list):
        return [scrub_json(item, pattern, placeholder, linked=linked) for item in value]
    if isinstance(value, dict):
        return {
            scrub_text(str(key), pattern, placeholder): scrub_json(
                item, pattern, placeholder, linked=linked
            )
            for key, item in value.items()
        }
    return value


def _names(value: Any, pattern: re.Pattern[str] | None) -> bool:
    """Whether a JSON object holds, directly, a string naming the person."""
    if pattern is None:
        return False
    items = value.values() if isinstance(value, dict) else value
    return any(isinstance(item, str) and pattern.search(item) for item in items) or any(
        isinstance(item, list) and _names(item, pattern) for item in items
    )


def _mentions_row(cells: Iterable[str], pattern: re.Pattern[str], names: set[str]) -> bool:
    cells = [" ".join(str(cell).split()).casefold() for cell in cells]
    if any(pattern.search(cell) for cell in cells):
        return True
    # A spreadsheet holds first and last names in cells of their own.
    return bool(names) and names <= set(cells)


def table_file_mentions(path: Path, identifiers: Identifiers, names: set[str]) -> bool:
    """Whether an uploaded spreadsheet (any format the importers read) mentions the person.

    A file that cannot be read as a table is compared as raw text: better to delete a file
    nobody can import than to keep one that names them."""
    from crm.importing.files import read_table

    pattern = identifiers.pattern(linked=False)
    if pattern is None:
        return False
    try:
        table = read_table(path, name=path.name)
        return any(_mentions_row(row, pattern, names) for row in table.rows)
    except Exception:
        text = path.read_bytes().decode("utf-8", errors="replace")
        return bool(pattern.search(text)) or bool(
            names and all(n in text.casefold() for n in names)
        )


def import_files_scrub(folder: Path, identifiers: Identifiers, names: set[str]) -> list[Path]:
    """Delete every file under the import folder that mentions the person; the deleted paths."""
    deleted: list[Path] = []
    if not folder.is_dir():
        return deleted
    for path in sorted(folder.rglob("*")):
        if path.is_file() and table_file_mentions(path, identifiers, names):
            path.unlink(missing_ok=True)
            deleted.append(path)
    return deleted


def _message_mentions(raw: bytes, pattern: re.Pattern[str]) -> bool:
    """Headers and every text part decoded (quoted-printable and base64 hide names)."""
    if pattern.search(raw.decode("utf-8", errors="replace")):
        return True
    message = message_from_bytes(raw.strip(b"\n"), policy=email_policy.default)
    texts = [str(value) for value in message.values()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            try:
                texts.append(part.get_content())
            except (LookupError, ValueError):
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    texts.append(payload.decode("utf-8", errors="replace"))
    return any(pattern.search(text) for text in texts)


def mail_files_scrub(folder: Path, identifiers: Identifiers) -> int:
    """Remove from the file-based e-mail backend's log every message mentioning the person.

    Returns the number of messages removed. Other messages of a file are kept as they were."""
    pattern = identifiers.pattern(linked=False)
    removed = 0
    if pattern is None or not folder.is_dir():
        return removed
    for path in sorted(folder.glob("*")):
        if not path.is_file():
            continue
        content = path.read_bytes()
        messages = [chunk for chunk in content.split(_MAIL_SEPARATOR) if chunk.strip()]
        kept = [chunk for chunk in messages if not _message_mentions(chunk, pattern)]
        if len(kept) == len(messages):
            continue
        removed += len(messages) - len(kept)
        if kept:
            path.write_bytes(b"".join(chunk.rstrip(b"\n") + _MAIL_SEPARATOR for chunk in kept))
        else:
            path.unlink(missing_ok=True)
    return removed
