"""Who may change or delete a consultation: the object-level half of the roles in crm/roles.py."""

from __future__ import annotations

from typing import Any

from outreach.models import Consultation


def can_edit(user: Any, consultation: Consultation) -> bool:
    if user.has_perm("outreach.change_any_consultation"):
        return True
    return user.has_perm("outreach.change_consultation") and user.pk in {
        consultation.lead_id,
        consultation.created_by_id,
    }


def can_delete(user: Any, consultation: Consultation) -> bool:
    if user.has_perm("outreach.delete_any_consultation"):
        return True
    return user.has_perm("outreach.delete_consultation") and user.pk == consultation.lead_id


def can_manage_followup(user: Any, followup: Any) -> bool:
    """The owner manages their follow-ups; an administrator manages everyone's."""
    if user.has_perm("outreach.delete_followup"):
        return True
    return user.has_perm("outreach.change_followup") and user.pk == followup.owner_id
