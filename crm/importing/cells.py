"""One spreadsheet cell to one stored value, or a message saying what is wrong with it.

Each parser takes the cell's text (already stripped) and returns the value to store, or raises
CellError with a message that names the value. Parsers of values that repeat down a column
(countries, languages, trades) are cached: a 100,000-row file has a few dozen distinct ones.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django_countries import countries

from crm.exports import FORMULA_STARTS
from crm.models import Consent, Membership, Trade, normalize_email
from crm.text import fold
from crm.timezones import is_valid_timezone

NAME_MAX = 100
EMAIL_MAX = 254
TAG_MAX = 60
TEXT_MAX = 10_000

CONSENT_VALUES = {
    "yes": Consent.GRANTED,
    "y": Consent.GRANTED,
    "true": Consent.GRANTED,
    "1": Consent.GRANTED,
    "granted": Consent.GRANTED,
    "no": Consent.WITHDRAWN,
    "n": Consent.WITHDRAWN,
    "false": Consent.WITHDRAWN,
    "0": Consent.WITHDRAWN,
    "withdrawn": Consent.WITHDRAWN,
}


class CellError(ValueError):
    """A cell whose value cannot be stored; the message names the value.

    `field` names the column at fault when the error is found after parsing (a new site with no
    country to create it in), so that the message can name the column as parsing errors do.
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def unescape(value: str) -> str:
    """A cell our exports defused ("'=1+1") reads back as what was stored ("=1+1").

    Spreadsheets themselves treat a leading apostrophe as "this is text", so a person who typed
    one meant the same thing. crm.exports.safe_cell escapes the other way round.
    """
    if value.startswith("'") and value[1:].startswith((*FORMULA_STARTS, "'")):
        return value[1:]
    return value


def parse_text(value: str, *, limit: int) -> str:
    # NUL cannot be stored in PostgreSQL text; the rest (right-to-left marks, formulas, markup)
    # is kept exactly as typed and escaped wherever it is shown.
    if "\x00" in value:
        raise CellError(_("“%(value)s” contains a NUL character.") % {"value": shown(value)})
    if len(value) > limit:
        raise CellError(
            _("“%(value)s” is %(length)d characters long; at most %(limit)d fit.")
            % {"value": shown(value), "length": len(value), "limit": limit}
        )
    return value


def parse_email(value: str) -> str:
    value = normalize_email(value)
    try:
        validate_email(value)
    except ValidationError:
        raise CellError(
            _("“%(value)s” is not a valid email address.") % {"value": shown(value)}
        ) from None
    return parse_text(value, limit=EMAIL_MAX)


def parse_phone(value: str, country: str) -> str:
    try:
        number = phonenumbers.parse(value, country or None)
        valid = phonenumbers.is_valid_number(number)
    except phonenumbers.NumberParseException:
        valid = False
    if not valid:
        if country:
            raise CellError(
                _("“%(value)s” is not a valid phone number for %(country)s.")
                % {"value": shown(value), "country": countries.name(country) or country}
            )
        raise CellError(
            _("“%(value)s” is not a valid phone number; write it as +<country code> <number>.")
            % {"value": shown(value)}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=4096)
def parse_country(value: str) -> str:
    """ISO alpha-2 ("DE"), alpha-3 ("DEU") or the English name ("Germany", "germany")."""
    code = countries.alpha2(value.upper()) if len(value) in (2, 3) else ""
    if not code:
        code = countries.by_name(value, insensitive=True) or ""
    if not code:
        raise CellError(
            _("“%(value)s” is not a country: use its ISO code (DE) or English name (Germany).")
            % {"value": shown(value)}
        )
    return str(code)


@functools.lru_cache(maxsize=1024)
def parse_timezone(value: str) -> str:
    if not is_valid_timezone(value):
        raise CellError(
            _("“%(value)s” is not a known time zone (use a name like Europe/Berlin).")
            % {"value": shown(value)}
        )
    return value


def parse_choice(
    value: str,
    choices: Iterable[tuple[str, Any]],
    *,
    message: str,
    aliases: Mapping[str, str] | None = None,
) -> str:
    """The code of a choice written as its code ("shop_steward"), its code with spaces, or its
    label ("Shop steward"), case and accents ignored; `aliases` add other words. Otherwise
    CellError with `message`, a text with %(value)s and %(choices)s in it."""
    key = fold(value).replace("_", " ").strip()
    codes = []
    for code, label in choices:
        codes.append(code)
        if key in {fold(code).replace("_", " "), fold(str(label))}:
            return code
    if aliases and key in aliases:
        return aliases[key]
    raise CellError(message % {"value": shown(value), "choices": ", ".join(codes)})


@functools.lru_cache(maxsize=1024)
def parse_trade(value: str) -> str:
    return parse_choice(
        value,
        Trade.choices,
        message=_("“%(value)s” is not a trade this CRM knows; use one of: %(choices)s."),
    )


@functools.lru_cache(maxsize=1024)
def parse_role(value: str) -> str:
    return parse_choice(
        value,
        Membership.Role.choices,
        message=_("“%(value)s” is not a union role; use one of: %(choices)s."),
    )


def parse_consent(value: str) -> str:
    consent = CONSENT_VALUES.get(value.casefold())
    if consent is None:
        raise CellError(
            _("“%(value)s” is not a consent answer; use yes or no (or leave it empty).")
            % {"value": shown(value)}
        )
    return consent


def split_list(value: str) -> list[str]:
    """ "a; b, c" -> ["a", "b", "c"]: trimmed, duplicates (ignoring case) dropped."""
    seen: dict[str, str] = {}
    for raw in value.replace(";", ",").split(","):
        item = " ".join(raw.split())
        if item and item.casefold() not in seen:
            seen[item.casefold()] = item
    return list(seen.values())


def split_names(value: str) -> list[str]:
    """ "IG Metall; Unite" -> ["IG Metall", "Unite"]: lists of names are split on ";" only,
    since names hold commas ("United Automobile, Aerospace …"); spaces are normalised."""
    return [" ".join(part.split()) for part in value.split(";") if part.strip()]


def same_text(old: Any, new: Any) -> bool:
    """Equal, line endings aside. XLSX cannot keep "\r" (XML reads "\r\n" as "\n"), and text
    areas send "\r\n": without this, every multi-line note exported to XLSX and imported back
    counted as a change."""
    if not (isinstance(old, str) and isinstance(new, str)):
        return bool(old == new)
    return _lines(old) == _lines(new)


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_tags(value: str) -> list[str]:
    tags = split_list(value)
    for tag in tags:
        if len(tag) > TAG_MAX:
            raise CellError(
                _("The tag “%(value)s” is %(length)d characters long; at most %(limit)d fit.")
                % {"value": shown(tag), "length": len(tag), "limit": TAG_MAX}
            )
        parse_text(tag, limit=TAG_MAX)
    return tags


def shown(value: str, limit: int = 80) -> str:
    # Messages quote the value so the person can find it, but a 10,000-character cell would
    # bury the message.
    value = value if len(value) <= limit else value[: limit - 1] + "…"
    # A message with NUL in it could not be stored either: job previews are JSON in
    # PostgreSQL, which refuses \u0000, so a rejected row would fail the whole import's record.
    return value.replace("\x00", "␀")
