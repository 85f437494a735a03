"""Demo consultations over the demo unions and contacts (see crm/demo.py), reproducible by seed."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from crm.models import Contact, Union
from crm.roles import OUTREACH_STAFF
from outreach import services
from outreach.models import Attendance, Concern, Consultation, PublicComment, Topic

DEMO_NAMESPACE = uuid.UUID("6f1d2c3a-4b5e-4f60-8a71-92b3c4d5e6f7")
SUMMARIES = (
    "Stewards want mutual recognition of welding certificates before any exchange starts.",
    "The local supports joint training if the work stays in the plant and wages are not undercut.",
    "Questions about security clearances for trainers coming from other member states.",
    "Agreed to share the apprenticeship curriculum; wants a say in who certifies the trainers.",
    "Concerned that cross-training is a first step towards moving production abroad.",
    "Positive about lean methods if the union sits on the steering group.",
)
POSITIONS = [choice for choice, _label in Consultation.Position.choices]
POSITION_WEIGHTS = [2, 5, 6, 3, 2, 1]


@transaction.atomic
def seed_consultations(*, count: int, seed: int) -> int:
    """Log `count` demo consultations (skipping those a previous run made); returns how many."""
    lead = User.objects.filter(groups__name=OUTREACH_STAFF).order_by("pk").first()
    if lead is None or count <= 0:
        return 0
    rng = random.Random(seed + 2)
    unions_by_country: dict[str, list[Union]] = {}
    for union in Union.objects.exclude(country="").order_by("pk"):
        unions_by_country.setdefault(str(union.country), []).append(union)
    contacts_by_country: dict[str, list[Contact]] = {}
    for contact in Contact.objects.filter(email__endswith="@demo.example.org").order_by("pk"):
        contacts_by_country.setdefault(str(contact.country), []).append(contact)
    countries = sorted(set(unions_by_country) & set(contacts_by_country))
    if not countries:
        return 0
    topics, concerns = list(Topic.objects.all()), list(Concern.objects.all())
    formats = [choice for choice, _label in Consultation.Format.choices]
    roles = [choice for choice, _label in Attendance.Role.choices]
    now = timezone.now()
    made = 0
    for index in range(count):
        key = uuid.uuid5(DEMO_NAMESPACE, f"{seed}-{index}")
        country = countries[rng.randrange(len(countries))]
        days = rng.randrange(-20, 330)
        starts_at = (now - timedelta(days=days, hours=rng.randrange(0, 8))).replace(
            minute=0, second=0, microsecond=0
        )
        future = starts_at > now
        status = Consultation.Status.PLANNED if future else rng.choice(["held"] * 9 + ["cancelled"])
        people = rng.sample(
            contacts_by_country[country],
            k=min(len(contacts_by_country[country]), rng.randint(1, 3)),
        )
        data = {
            "starts_at": starts_at,
            "status": status,
            "format": formats[rng.randrange(len(formats))],
            "country": country,
            "unions": rng.sample(unions_by_country[country], k=1),
            "attendees": [(person, roles[rng.randrange(len(roles))]) for person in people],
            "topics": rng.sample(topics, k=rng.randint(1, 3)),
            "concerns": rng.sample(concerns, k=rng.randint(0, 2)),
            "position": Consultation.Position.NOT_DISCUSSED
            if future
            else rng.choices(POSITIONS, weights=POSITION_WEIGHTS)[0],
            "summary": "" if future else SUMMARIES[rng.randrange(len(SUMMARIES))],
        }
        if Consultation.objects.filter(submission_key=key).exists():
            continue
        services.consultation_create(data=data, by=lead, submission_key=key)
        made += 1
    return made


# Public comments as people send them: several languages, some anonymous, some not to be shown.
DEMO_COMMENTS = (
    # (comment, name, union, country, language, may publish, published)
    (
        "Cross-training is welcome if certificates are recognised both ways.",
        "Jürgen Weber",
        "IG Metall",
        "DE",
        "de",
        True,
        True,
    ),
    (
        "La formation croisée ne doit pas servir à délocaliser la production.",
        "",
        "FO Métaux",
        "FR",
        "fr",
        True,
        True,
    ),
    (
        "Our shipyard lost work in the last offset deal. Protect the jobs first.",
        "Sean Murphy",
        "Unite",
        "GB",
        "en",
        True,
        False,
    ),
    (
        "Szkolenia tak, ale z udziałem związków przy wyborze instruktorów.",
        "Anna Kowalska",
        "NSZZ Solidarność",
        "PL",
        "pl",
        False,
        False,
    ),
    ("Who certifies the trainers? Nobody has told us.", "", "", "IT", "en", False, False),
)


@transaction.atomic
def seed_comments(*, seed: int) -> int:
    """A few public comments, two of them published; returns how many were made this time."""
    moderator = User.objects.filter(groups__name=OUTREACH_STAFF).order_by("pk").first()
    made = 0
    for index, (text, name, union, country, language, consent, published) in enumerate(
        DEMO_COMMENTS
    ):
        key = uuid.uuid5(DEMO_NAMESPACE, f"comment-{seed}-{index}").hex
        if PublicComment.objects.filter(submission_key=key).exists():
            continue
        comment = services.public_comment_submit(
            data={
                "comment": text,
                "name": name,
                "union_name": union,
                "country": country,
                "language": language,
                "consent_to_publish": consent,
            },
            consent_question="May we post your comment for others to see and review?",
            updates_question="Yes, send me updates about the campaign by e-mail.",
            submission_key=key,
        )
        if published and moderator is not None:
            services.public_comment_publish(comment=comment, by=moderator)
        made += 1
    return made
