"""Demo data: real unions (crm/data/unions_sample.csv), defense employers and invented people.

Every run with the same arguments leaves the same database: unions are keyed by name and
country, employers by name, sites by employer and city, contacts by their demo email address.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from crm import roles
from crm.models import (
    Consent,
    ConsentSource,
    Contact,
    Employer,
    Language,
    Membership,
    Sector,
    Site,
    Trade,
    Union,
    contact_search_text,
)
from crm.text import fold
from crm.timezones import default_timezone

UNIONS_FILE = Path(__file__).with_name("data") / "unions_sample.csv"

# Given names and family names as people write them, in their own scripts.
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "US": (
        ("James", "Maria", "DeShawn", "Linda", "Carlos", "Mei", "Robert", "Aaliyah"),
        ("Johnson", "García", "Nguyen", "Smith", "O'Connor", "Washington", "Kowalczyk", "Lee"),
    ),
    "CA": (
        ("Émilie", "Jean-François", "Liam", "Priya", "Nathalie", "Owen"),
        ("Tremblay", "Gagnon", "MacDonald", "Singh", "Côté", "Bouchard"),
    ),
    "GB": (
        ("Oliver", "Siobhan", "Amara", "Gareth", "Aisha", "Callum"),
        ("Evans", "Patel", "McAllister", "Okafor", "Davies", "Hughes"),
    ),
    "DE": (
        ("Jürgen", "Anna-Lena", "Mehmet", "Katrin", "Lukas", "Özlem"),
        ("Müller", "Schröder", "Yılmaz", "Weiß", "Hoffmann", "Krüger"),
    ),
    "FR": (
        ("Hélène", "Mathieu", "Karim", "Élodie", "Théo", "Fatoumata"),
        ("Lefèvre", "Moreau", "Benali", "Dubois", "Gérard", "Diallo"),
    ),
    "IT": (
        ("Giuseppe", "Chiara", "Niccolò", "Francesca", "Luca", "Giulia"),
        ("Rossi", "Esposito", "Colombo", "D'Angelo", "Ricci", "Bianchi"),
    ),
    "ES": (
        ("José Luis", "María Ángeles", "Íñigo", "Nuria", "Xabier", "Lucía"),
        ("Fernández", "Etxeberria", "López", "Martínez", "Núñez", "Castañeda"),
    ),
    "PL": (
        ("Małgorzata", "Krzysztof", "Agnieszka", "Paweł", "Łucja", "Grzegorz"),
        ("Wiśniewski", "Kowalska", "Wójcik", "Zieliński", "Łukaszewicz", "Dąbrowska"),
    ),
    "NO": (
        ("Øystein", "Ingrid", "Bjørn", "Solveig", "Håkon", "Marte"),
        ("Hansen", "Johansen", "Solberg", "Bråthen", "Løvik", "Haugen"),
    ),
    "SE": (
        ("Åsa", "Lars", "Björn", "Märta", "Erik", "Linnéa"),
        ("Andersson", "Lindqvist", "Öberg", "Nyström", "Karlsson", "Ekström"),
    ),
    "FI": (
        ("Jukka", "Päivi", "Mikko", "Sanna", "Ville", "Hanna"),
        ("Virtanen", "Mäkinen", "Korhonen", "Nieminen", "Häkkinen", "Lehtonen"),
    ),
    "DK": (
        ("Søren", "Mette", "Jens", "Louise", "Anders", "Ida"),
        ("Jørgensen", "Nielsen", "Møller", "Christensen", "Sørensen", "Larsen"),
    ),
    "NL": (
        ("Daan", "Sanne", "Joris", "Femke", "Bram", "Anouk"),
        ("de Vries", "van den Berg", "Jansen", "Bakker", "van Dijk", "Visser"),
    ),
    "BE": (
        ("Wouter", "Annelies", "Luc", "Sofie", "Mohamed", "Véronique"),
        ("Peeters", "Janssens", "Dupont", "Maes", "El Amrani", "Lambert"),
    ),
    "CZ": (
        ("Jiří", "Tereza", "Tomáš", "Kateřina", "Lukáš", "Zuzana"),
        ("Novák", "Dvořáková", "Černý", "Procházková", "Kučera", "Veselá"),
    ),
    "HU": (
        ("László", "Zsófia", "Gábor", "Erzsébet", "Péter", "Anikó"),
        ("Nagy", "Kovács", "Szabó", "Tóth", "Horváth", "Varga"),
    ),
    "TR": (
        ("Ayşe", "Mehmet", "Gülşen", "Oğuz", "Şükrü", "İpek"),
        ("Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Öztürk"),
    ),
    "GR": (
        ("Γιώργος", "Ελένη", "Νίκος", "Μαρία", "Δημήτρης", "Κατερίνα"),
        ("Παπαδόπουλος", "Οικονόμου", "Γεωργίου", "Νικολάου", "Βασιλείου", "Καραγιάννη"),
    ),
    "BG": (
        ("Иван", "Мария", "Георги", "Елена", "Димитър", "Цветелина"),
        ("Иванов", "Петрова", "Георгиев", "Димитрова", "Стоянов", "Николова"),
    ),
    "MK": (
        ("Александар", "Марија", "Игор", "Весна", "Горан", "Билјана"),
        ("Стојановски", "Николовска", "Трајковски", "Петровска", "Јовановски", "Ѓорѓиевска"),
    ),
    "RO": (
        ("Andrei", "Ioana", "Ștefan", "Mihaela", "Răzvan", "Alexandra"),
        ("Popescu", "Ionescu", "Dumitrescu", "Stănescu", "Constantin", "Țurcanu"),
    ),
    "PT": (
        ("João", "Inês", "Gonçalo", "Conceição", "Tiago", "Beatriz"),
        ("Silva", "Gonçalves", "Conceição", "Antunes", "Magalhães", "Simões"),
    ),
    "SK": (
        ("Ľubomír", "Jana", "Matúš", "Zuzana", "Peter", "Lucia"),
        ("Kováč", "Horváthová", "Varga", "Tóthová", "Baláž", "Ďurica"),
    ),
}

LANGUAGE_OF = {
    "US": "en", "CA": "en", "GB": "en", "DE": "de", "FR": "fr", "IT": "it", "ES": "es", "PL": "pl",
    "NO": "nb", "SE": "sv", "FI": "fi", "DK": "da", "NL": "nl", "BE": "nl", "CZ": "cs", "HU": "hu",
    "TR": "tr", "GR": "el", "BG": "bg", "MK": "mk", "RO": "ro", "PT": "pt", "SK": "sk",
}  # fmt: skip

# (employer, headquarters, [(site name, city, country, sector slug, products)])
EMPLOYERS: tuple[tuple[str, str, tuple[tuple[str, str, str, str, str], ...]], ...] = (
    ("BAE Systems", "GB", (("Shipyard", "Barrow-in-Furness", "GB", "shipbuilding", "Submarines"), ("Samlesbury", "Samlesbury", "GB", "aerospace", "Combat aircraft structures"), ("York", "York", "US", "land-systems", "Tracked vehicles"))),
    ("Rheinmetall", "DE", (("Werk Unterlüß", "Unterlüß", "DE", "munitions", "Artillery ammunition"), ("", "Kassel", "DE", "land-systems", "Wheeled vehicles"))),
    ("Airbus Defence and Space", "DE", (("", "Manching", "DE", "aerospace", "Military aircraft"), ("", "Getafe", "ES", "aerospace", "Transport aircraft"))),
    ("Leonardo", "IT", (("", "Grottaglie", "IT", "aerospace", "Composite fuselage sections"), ("", "La Spezia", "IT", "electronics", "Naval systems"))),
    ("Naval Group", "FR", (("", "Cherbourg", "FR", "shipbuilding", "Submarines"), ("", "Lorient", "FR", "shipbuilding", "Frigates"))),
    ("KNDS", "FR", (("", "Roanne", "FR", "land-systems", "Armoured vehicles"), ("", "München", "DE", "land-systems", "Main battle tanks"))),
    ("Saab", "SE", (("", "Linköping", "SE", "aerospace", "Fighter aircraft"), ("", "Karlskoga", "SE", "munitions", "Ammunition"))),
    ("Nammo", "NO", (("", "Raufoss", "NO", "munitions", "Medium-calibre ammunition"), ("", "Lapua", "FI", "munitions", "Small-calibre ammunition"))),
    ("Kongsberg Defence & Aerospace", "NO", (("", "Kongsberg", "NO", "electronics", "Missiles and remote weapon stations"),)),
    ("Navantia", "ES", (("", "Ferrol", "ES", "shipbuilding", "Frigates"),)),
    ("Huta Stalowa Wola", "PL", (("", "Stalowa Wola", "PL", "land-systems", "Self-propelled howitzers"),)),
    ("General Dynamics Electric Boat", "US", (("", "Groton", "US", "shipbuilding", "Submarines"),)),
    ("Lockheed Martin", "US", (("", "Fort Worth", "US", "aerospace", "Combat aircraft"), ("", "Camden", "US", "munitions", "Rocket motors"))),
    ("Aselsan", "TR", (("Macunköy", "Ankara", "TR", "electronics", "Defence electronics"),)),
    ("Patria", "FI", (("", "Hämeenlinna", "FI", "land-systems", "Armoured modular vehicles"),)),
    ("Damen Naval", "NL", (("", "Vlissingen", "NL", "shipbuilding", "Frigates"),)),
    ("FN Herstal", "BE", (("", "Herstal", "BE", "munitions", "Small arms"),)),
    ("Hellenic Aerospace Industry", "GR", (("", "Tanagra", "GR", "aerospace", "Aircraft maintenance"),)),
    ("Arsenal", "BG", (("", "Kazanlak", "BG", "munitions", "Small arms and ammunition"),)),
    ("CSG", "CZ", (("Excalibur Army", "Šternberk", "CZ", "land-systems", "Vehicle overhaul"),)),
    ("General Dynamics Land Systems–Canada", "CA", (("", "London", "CA", "land-systems", "Light armoured vehicles"),)),
)  # fmt: skip

DEMO_PASSWORD = "demo-outreach-2026"
DEMO_USERS = (
    ("outreach", roles.OUTREACH_STAFF),
    ("organizer", roles.ORGANIZER),
    ("manager", roles.MANAGER),
    ("admin", roles.ADMINISTRATOR),
)


@dataclass
class SeedReport:
    unions: int = 0
    employers: int = 0
    sites: int = 0
    contacts: int = 0
    memberships: int = 0


def _sector_slugs(text: str) -> list[str]:
    return [part.strip().replace(" ", "-") for part in text.split(";") if part.strip()]


def seed_unions(report: SeedReport) -> dict[str, list[Union]]:
    """Unions of the sample file, with their national centres, federations and parents."""
    with UNIONS_FILE.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    sectors = {sector.slug: sector for sector in Sector.objects.all()}

    def get(name: str, country: str, kind: str, **extra: object) -> Union:
        union = Union.objects.filter(name=name, country=country).first()
        if union is None:
            union = Union(name=name, country=country, kind=kind, **extra)
            union.full_clean()
            union.save()
            report.unions += 1
        return union

    federations = {
        name: get(name, "", Union.Kind.GLOBAL_FEDERATION)
        for name in {r["federation"] for r in rows}
        if name
    }
    by_name: dict[str, Union] = {}
    by_country: dict[str, list[Union]] = {}
    # National unions first so that locals can find their parent.
    for row in sorted(rows, key=lambda r: bool(r["parent"])):
        country = row["country"]
        language = LANGUAGE_OF.get(country)
        if row["parent"]:
            union = get(
                row["name"],
                country,
                Union.Kind.LOCAL,
                acronym=row["acronym"],
                parent=by_name[row["parent"]],
            )
        else:
            union = get(row["name"], country, Union.Kind.NATIONAL_UNION, acronym=row["acronym"])
            affiliations = [federations[row["federation"]]] if row["federation"] else []
            if row["national_centre"]:
                affiliations.append(
                    get(
                        row["national_centre"],
                        country,
                        Union.Kind.NATIONAL_CENTRE,
                        acronym=row["national_centre"],
                    )
                )
            union.affiliations.add(*affiliations)
        union.sectors.add(
            *[sectors[slug] for slug in _sector_slugs(row["sectors"]) if slug in sectors]
        )
        if language:
            union.languages.add(*Language.objects.filter(code=language))
        by_name[row["name"]] = union
        by_country.setdefault(country, []).append(union)
    return by_country


def seed_employers(report: SeedReport) -> dict[str, list[Site]]:
    sectors = {sector.slug: sector for sector in Sector.objects.all()}
    sites_by_country: dict[str, list[Site]] = {}
    for name, headquarters, sites in EMPLOYERS:
        employer, created = Employer.objects.get_or_create(
            name=name, defaults={"country": headquarters}
        )
        report.employers += int(created)
        for site_name, city, country, sector, products in sites:
            site, created = Site.objects.get_or_create(
                employer=employer,
                city=city,
                name=site_name,
                defaults={"country": country, "sector": sectors.get(sector), "products": products},
            )
            report.sites += int(created)
            sites_by_country.setdefault(country, []).append(site)
    return sites_by_country


def _phone(rng: random.Random, country: str) -> str:
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return ""
    digits = str(example.national_number)
    for _attempt in range(5):
        candidate = digits[:-3] + f"{rng.randrange(1000):03d}"
        number = phonenumbers.parse(f"+{example.country_code}{candidate}")
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return ""


def _email_name(first: str, last: str) -> str:
    name = fold(f"{first}.{last}").replace(" ", "").replace("'", "")
    return name if name.isascii() else "member"


def _contacts(count: int, seed: int, sites: dict[str, list[Site]]) -> Iterator[tuple[Contact, str]]:
    rng = random.Random(seed)
    countries = sorted(NAMES)
    trades = [choice for choice, _label in Trade.choices]
    now = timezone.now()
    for index in range(count):
        country = countries[rng.randrange(len(countries))]
        given, family = NAMES[country]
        first, last = given[rng.randrange(len(given))], family[rng.randrange(len(family))]
        local_sites = sites.get(country, [])
        site = (
            local_sites[rng.randrange(len(local_sites))]
            if local_sites and rng.random() < 0.8
            else None
        )
        roll = rng.random()
        consent = (
            Consent.GRANTED if roll < 0.7 else Consent.WITHDRAWN if roll < 0.75 else Consent.UNKNOWN
        )
        email = f"{_email_name(first, last)}.{index}@demo.example.org"
        contact = Contact(
            first_name=first,
            last_name=last,
            email=email,
            phone=_phone(rng, country) if rng.random() < 0.6 else "",
            country=country,
            employer=site.employer if site else None,
            site=site,
            trade=trades[rng.randrange(len(trades))],
            preferred_language_id=LANGUAGE_OF[country],
            timezone=default_timezone(country)
            or (
                "America/Chicago"
                if country == "US"
                else "America/Toronto"
                if country == "CA"
                else "Europe/Madrid"
                if country == "ES"
                else "Europe/Lisbon"
            ),
            email_consent=consent,
            email_consent_at=now if consent != Consent.UNKNOWN else None,
            email_consent_source=ConsentSource.IMPORT if consent != Consent.UNKNOWN else "",
            do_not_contact=rng.random() < 0.02,
            notes="",
        )
        contact.search_text = contact_search_text(
            contact.first_name, contact.last_name, contact.email
        )
        yield contact, LANGUAGE_OF[country]


@transaction.atomic
def seed_demo(*, contacts: int, seed: int, batch_size: int = 2000) -> SeedReport:
    report = SeedReport()
    unions_by_country = seed_unions(report)
    sites = seed_employers(report)
    known_languages = set(Language.objects.values_list("code", flat=True))
    existing = set(
        Contact.objects.filter(email__endswith="@demo.example.org").values_list("email", flat=True)
    )
    rng = random.Random(seed + 1)
    roles_ = [choice for choice, _label in Membership.Role.choices]
    batch: list[tuple[Contact, str]] = []

    def flush() -> None:
        new = [contact for contact, _language in batch]
        bulk_create_with_history(new, Contact, batch_size=batch_size)
        saved = {
            contact.email: contact
            for contact in Contact.objects.filter(email__in=[c.email for c in new])
        }
        languages, memberships = [], []
        for contact, language in batch:
            stored = saved[contact.email]
            if language in known_languages:
                languages.append(Contact.languages.through(contact=stored, language_id=language))
            local_unions = unions_by_country.get(str(contact.country), [])
            if local_unions and rng.random() < 0.85:
                union = local_unions[rng.randrange(len(local_unions))]
                role = roles_[0] if rng.random() < 0.7 else roles_[rng.randrange(len(roles_))]
                memberships.append(Membership(contact=stored, union=union, role=role))
        Contact.languages.through.objects.bulk_create(languages, batch_size=batch_size)
        bulk_create_with_history(memberships, Membership, batch_size=batch_size)
        report.contacts += len(new)
        report.memberships += len(memberships)
        batch.clear()

    for contact, language in _contacts(contacts, seed, sites):
        if contact.email in existing:
            continue
        batch.append((contact, language))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return report


class DemoUserConflictError(Exception):
    """A real account has the name of a demo login."""


def demo_users_ensure() -> list[tuple[str, str]]:
    """One user per role (password DEMO_PASSWORD); the administrator may use the Django admin.

    An existing account is left alone unless it is itself a demo account, so that a real user
    called "admin" never gets a role or a known password from here.
    """
    logins = []
    for username, role in DEMO_USERS:
        email = f"{username}@demo.example.org"
        user, created = User.objects.get_or_create(username=username, defaults={"email": email})
        if not created and user.email != email:
            raise DemoUserConflictError(username)
        if created:
            user.set_password(DEMO_PASSWORD)
            user.is_staff = role == roles.ADMINISTRATOR
            user.save()
        user.groups.add(Group.objects.get(name=role))
        logins.append((username, str(roles.ROLE_LABELS[role])))
    return logins
