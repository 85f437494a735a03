"""The back office for administrators. Change history comes from django-simple-history."""

from django.contrib import admin
from django.db import models
from simple_history.admin import SimpleHistoryAdmin

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
class ContactAdmin(SimpleHistoryAdmin):
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
