"""The four roles and their exact permissions: the one place that says who may do what.

Groups are created and kept equal to this table by data migrations (`sync_roles`); a test
compares the database with it, so a permission cannot be granted anywhere else by accident.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

OUTREACH_STAFF = "Outreach staff"
ORGANIZER = "Organizer"
MANAGER = "Manager"
ADMINISTRATOR = "Administrator"

ROLE_LABELS = {
    OUTREACH_STAFF: _("Outreach staff"),
    ORGANIZER: _("Organizer"),
    MANAGER: _("Manager"),
    ADMINISTRATOR: _("Administrator"),
}

_CORE = ("union", "employer", "site", "contact", "membership")
_REFERENCE = ("sector", "language", "tag")


def _perms(app: str, actions: tuple[str, ...], models: tuple[str, ...]) -> set[str]:
    return {f"{app}.{action}_{model}" for action in actions for model in models}


_TAXONOMIES = ("topic", "concern")
_READ_CORE = _perms(
    "crm", ("view",), ("union", "contact", "membership", "sector", "language", "tag")
)
_READ_OUTREACH = _perms("outreach", ("view",), ("consultation", *_TAXONOMIES))
# The comments sent through the public form: read them all, mark them reviewed or spam, link them
# to contacts, publish (only what the person agreed to) or hide. Creating a contact from a
# comment is part of moderating, on purpose, as recording new people is part of add_consultation.
# A custom permission rather than change_: managers change no records of their own.
_MODERATE_COMMENTS = {"outreach.view_publiccomment", "outreach.moderate_publiccomment"}

# Outreach staff log consultations and edit or delete those they lead (the object-level rule is
# in outreach/permissions.py); they read every consultation, as the team shares its work.
# Logging a consultation may record people met for the first time (name, e-mail, union) as
# contacts: that is part of add_consultation, on purpose, and the only way staff add contacts.
_STAFF = (
    _READ_CORE
    | _READ_OUTREACH
    | _perms("outreach", ("add", "change", "delete"), ("consultation",))
    # Their own follow-ups (outreach/permissions.py has the object-level rule).
    | _perms("outreach", ("view", "add", "change"), ("followup",))
    | _perms("outreach", ("view",), ("emailtemplate", "emailtemplateversion"))
    | _MODERATE_COMMENTS
)

# Organizers keep the people and unions up to date and import them; they read consultations.
_ORGANIZER = (
    _READ_CORE
    | _READ_OUTREACH
    | _perms("crm", ("view", "add", "change"), _CORE)
    | _perms("crm", ("add",), ("tag",))
    | _perms("crm", ("delete",), ("membership",))
    | {"crm.import_contacts", "crm.export_contacts", "outreach.export_consultations"}
)

_MANAGER = (
    _perms("crm", ("view",), _CORE + _REFERENCE)
    | _READ_OUTREACH
    | {"outreach.view_followup", "outreach.view_all_followups"}
    | {"crm.export_contacts", "outreach.export_consultations", "outreach.view_reports"}
    | _MODERATE_COMMENTS
)

# Administrators run the system: users, roles, reference data and every record (the Django admin
# is theirs). Erasing a person is a deletion of a contact and stays theirs alone.
_ADMINISTRATOR = (
    _perms("auth", ("view", "add", "change", "delete"), ("user", "group"))
    | _perms("crm", ("view", "add", "change", "delete"), _CORE + _REFERENCE)
    | {"crm.import_contacts", "crm.export_contacts", "crm.view_workerheartbeat"}
    # The proof of each consent: read in the admin, never edited there.
    | {"crm.view_consentrecord"}
    # Everyone's imports (organizers see their own) and the saved column mappings.
    | _perms("crm", ("view", "delete"), ("importjob",))
    | _perms("crm", ("view", "change", "delete"), ("savedmapping",))
    | _perms(
        "outreach",
        ("view", "add", "change", "delete"),
        ("consultation", "followup", "emailtemplate", "emailtemplateversion", *_TAXONOMIES),
    )
    | {"outreach.view_all_followups"}
    | {
        "outreach.export_consultations",
        "outreach.change_any_consultation",
        "outreach.delete_any_consultation",
        "outreach.view_reports",
    }
    # Deleting a comment (a person asking to be forgotten) is theirs, like deleting a contact.
    | _MODERATE_COMMENTS
    | {"outreach.delete_publiccomment"}
    # Accountability and the rights of the people on record: who looked at whom, a person's
    # data handed to them, erasure, and the notes left to read after one.
    | _perms("crm", ("view",), ("contactaccess", "contacterasure"))
    | _perms("crm", ("view", "change"), ("erasurereview",))
    | {"crm.erase_contact"}
    # Removing a colleague's lost authenticator (they set up a new one at their next sign-in)
    # and lifting a sign-in lockout before its cool-off ends.
    | _perms("otp_totp", ("view", "delete"), ("totpdevice",))
    | _perms("axes", ("view", "delete"), ("accessattempt",))
)

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    OUTREACH_STAFF: frozenset(_STAFF),
    ORGANIZER: frozenset(_ORGANIZER),
    MANAGER: frozenset(_MANAGER),
    ADMINISTRATOR: frozenset(_ADMINISTRATOR),
}


def sync_roles(apps: Any, schema_editor: Any = None) -> None:
    """Make each role group hold exactly the permissions of ROLE_PERMISSIONS.

    Runs inside migrations (with historical models). Permission rows are normally created after
    migrations finish, so they are created here first for the apps migrated so far.
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, names in ROLE_PERMISSIONS.items():
        group, _created = group_model.objects.get_or_create(name=role)
        wanted = []
        for name in sorted(names):
            app_label, codename = name.split(".")
            permission = permission_model.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            # A permission of a model that a later migration adds is granted by that migration's
            # own sync_roles call; the test of the final state catches any that never appear.
            if permission is not None:
                wanted.append(permission)
        group.permissions.set(wanted)


def unsync_roles(apps: Any, schema_editor: Any = None) -> None:
    """Reverse of the first sync: the groups go, users keep their accounts."""
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLE_PERMISSIONS)).delete()
