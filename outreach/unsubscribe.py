"""Unsubscribe links: signed with the site's secret, never expiring, naming only the contact."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from crm.models import Contact

SALT = "outreach.unsubscribe"


def unsubscribe_token(contact: Contact) -> str:
    return signing.Signer(salt=SALT).sign(str(contact.pk))


def contact_from_token(token: str) -> Contact | None:
    try:
        pk = signing.Signer(salt=SALT).unsign(token)
    except signing.BadSignature:
        return None
    return Contact.objects.filter(pk=int(pk)).first() if pk.isascii() and pk.isdigit() else None


def unsubscribe_url(contact: Contact) -> str:
    return settings.SITE_URL + reverse("unsubscribe", args=[unsubscribe_token(contact)])
