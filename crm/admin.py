"""The back office for administrators. Change history comes from django-simple-history."""

from typing import Any

from django.contrib import admin
from django.db import models
from import_export.admin import ImportExportMixin
from simple_history.admin import SimpleHistoryAdmin

from crm.importing.models import ImportJob, SavedMapping
from crm.importing.resources import ContactResource
from crm.models import (
    Contact,
    Employer,
    Language,
    Membership,
    Sector,
    Site,
    Tag,
    Union,
    WorkerHeartbeat,
)
from crm.reauth import recent_auth_required


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["union"]


class SiteInline(admin.TabularInline):
    model = Site
    extra = 0


@admin.register(Union)
class UnionAdmin(SimpleHistoryAdmin):
    list_display = ["name", "acronym", "kind", "country", "parent"]
    list_filter = ["kind", "country", "sectors"]
    list_select_related = ["parent"]
    search_fields = ["name", "acronym"]
    autocomplete_fields = ["parent", "affiliations"]
    filter_horizontal = ["sectors", "languages"]
    readonly_fields = ["created_at", "created_by", "updated_at", "updated_by"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Employer)
class EmployerAdmin(SimpleHistoryAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "country"]
    search_fields = ["name"]
    inlines = [SiteInline]


@admin.register(Site)
class SiteAdmin(SimpleHistoryAdmin):
    list_display = ["__str__", "employer", "city", "country", "sector"]
    list_filter = ["country", "sector"]
    list_select_related = ["employer", "sector"]
    search_fields = ["name", "city", "employer__name"]
    autocomplete_fields = ["employer"]


@admin.register(Contact)
class ContactAdmin(ImportExportMixin, SimpleHistoryAdmin):
    # The same engine and columns as the import pages (crm/importing/resources.py).
    resource_classes = [ContactResource]
    # Each import is an ImportJob and each change a history row; a LogEntry per row would
    # only repeat them, slowly.
    skip_admin_log = True

    # The CRM's own permissions, not django-import-export's default (which is "add"/"view").
    def has_import_permission(self, request: Any) -> bool:
        return bool(request.user.has_perm("crm.import_contacts"))

    def has_export_permission(self, request: Any) -> bool:
        return bool(request.user.has_perm("crm.export_contacts"))

    def export_action(self, request: Any) -> Any:
        # The same "confirm it's you" as the staff pages' exports.
        return recent_auth_required(super().export_action)(request)

    list_display = [
        "last_name",
        "first_name",
        "email",
        "country",
        "trade",
        "email_consent",
        "do_not_contact",
    ]
    list_filter = ["country", "trade", "email_consent", "do_not_contact"]
    list_select_related = ["employer", "site"]
    search_fields = ["first_name", "last_name", "email"]
    autocomplete_fields = ["employer", "site", "tags"]
    filter_horizontal = ["languages"]
    readonly_fields = ["created_at", "created_by", "updated_at", "updated_by"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(SimpleHistoryAdmin):
    list_display = ["contact", "union", "role", "start_date", "end_date"]
    list_filter = ["role"]
    list_select_related = ["contact", "union"]
    autocomplete_fields = ["contact", "union"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Sector)
class SectorAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]


@admin.register(Language)
class LanguageAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["worker", "seen_at"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["file_name", "created_by", "created_at", "source", "status", "created",
                    "updated", "unchanged", "rejected"]  # fmt: skip
    list_filter = ["status", "source", "kind"]
    search_fields = ["file_name"]
    readonly_fields = [f.name for f in ImportJob._meta.fields]

    def has_add_permission(self, request: Any) -> bool:
        return False


@admin.register(SavedMapping)
class SavedMappingAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]
