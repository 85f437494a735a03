"""The navigation shell: what each role sees. One list, filtered by the user's permissions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from crm.roles import ROLE_LABELS


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str | Promise
    url_name: str
    permission: str | None  # None: staff users (the Django admin)

    @property
    def url(self) -> str:
        return reverse(self.url_name)


NAV_ITEMS: tuple[NavItem, ...] = (
    NavItem("log", _("Log a meeting"), "outreach:consultation_create", "outreach.add_consultation"),
    NavItem(
        "consultations",
        _("Consultations"),
        "outreach:consultation_list",
        "outreach.view_consultation",
    ),
    NavItem("followups", _("Follow-ups"), "followups:list", "outreach.view_followup"),
    NavItem("comments", _("Comments"), "comments:list", "outreach.view_publiccomment"),
    NavItem("reports", _("Reports"), "reports:dashboard", "outreach.view_reports"),
    NavItem("contacts", _("Contacts"), "crm:contact_list", "crm.view_contact"),
    NavItem("unions", _("Unions"), "crm:union_list", "crm.view_union"),
    NavItem("employers", _("Employers"), "crm:employer_list", "crm.view_employer"),
    NavItem("imports", _("Imports"), "crm:import_list", "crm.import_contacts"),
    NavItem("access", _("Access log"), "crm:access_log", "crm.view_contactaccess"),
    NavItem("admin", _("Administration"), "admin:index", None),
)


def nav_items_for(user: Any) -> list[NavItem]:
    if not user.is_authenticated:
        return []
    return [
        item
        for item in NAV_ITEMS
        if (item.permission is None and user.is_staff and user.is_active)
        or (item.permission is not None and user.has_perm(item.permission))
    ]


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_roles": []}
    roles = [ROLE_LABELS.get(group.name, group.name) for group in user.groups.all()]
    return {"nav_items": nav_items_for(user), "user_roles": roles}
