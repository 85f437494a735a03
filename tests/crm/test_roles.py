"""The four roles hold exactly the permissions of crm/roles.py, and nothing else grants any."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from crm.roles import ADMINISTRATOR, MANAGER, ORGANIZER, OUTREACH_STAFF, ROLE_PERMISSIONS

pytestmark = pytest.mark.django_db


def test_it_creates_each_role_with_exactly_its_permissions():
    for role, expected in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        granted = {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        assert granted == expected, role


def test_it_has_no_other_groups():
    assert set(Group.objects.values_list("name", flat=True)) == set(ROLE_PERMISSIONS)


def test_it_gives_outreach_staff_read_only_access_to_contacts():
    staff = ROLE_PERMISSIONS[OUTREACH_STAFF]
    assert {"crm.view_contact", "crm.view_union"} <= staff
    writes = ("add_", "change_", "delete_")
    assert not {p for p in staff if p.startswith("crm.") and p.split(".")[1].startswith(writes)}


def test_it_lets_outreach_staff_log_consultations_but_not_touch_others():
    staff = ROLE_PERMISSIONS[OUTREACH_STAFF]
    own = {
        "outreach.add_consultation",
        "outreach.change_consultation",
        "outreach.delete_consultation",
    }
    assert own <= staff
    assert not {"outreach.change_any_consultation", "outreach.delete_any_consultation"} & staff
    assert "outreach.export_consultations" not in staff


def test_it_lets_organizers_edit_and_import_but_not_delete_people():
    organizer = ROLE_PERMISSIONS[ORGANIZER]
    assert {
        "crm.add_contact",
        "crm.change_contact",
        "crm.add_union",
        "crm.import_contacts",
    } <= organizer
    assert "crm.delete_contact" not in organizer


def test_it_lets_managers_see_and_export_but_not_change():
    manager = ROLE_PERMISSIONS[MANAGER]
    assert {"crm.view_contact", "crm.view_employer", "crm.export_contacts"} <= manager
    assert not {perm for perm in manager if "change_" in perm or "add_" in perm}


def test_it_keeps_user_management_to_administrators():
    for role, permissions in ROLE_PERMISSIONS.items():
        assert ("auth.change_user" in permissions) is (role == ADMINISTRATOR)
