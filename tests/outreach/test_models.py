"""Taxonomies: seeded names are translated, names administrators change are shown as typed."""

from __future__ import annotations

import pytest
from django.utils import translation

from outreach.models import Concern, Topic

pytestmark = pytest.mark.django_db


def test_it_seeds_the_topics_and_concerns_the_campaign_needs():
    assert Topic.objects.count() >= 11
    assert Concern.objects.count() >= 8
    assert str(Topic.objects.get(slug="stanag")) == "Interoperability standards (STANAG)"


def test_it_shows_an_administrators_new_name():
    topic = Topic.objects.get(slug="lean")
    topic.name = "Lean and 5S on the shop floor"
    topic.save()
    with translation.override("fr"):
        assert str(topic) == "Lean and 5S on the shop floor"
