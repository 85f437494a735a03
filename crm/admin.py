"""The back office for administrators. Change history comes from django-simple-history."""

from typing import Any

from django.contrib import admin
from django.db import models
from import_export.admin import ImportExportMixin
from simple_history.admin import SimpleHistoryAdmin

from crm.importing.models import ImportJob, SavedMapping
from crm.importing.resources import ContactResource
from crm.models import (
    ConsentRecord,
    Contact,
    ContactAccess,
    ContactErasure,
    Employer,
    ErasureReview,
    Language,
    Membership,
    Sector,
    Site,
    Tag,
    Union,
    WorkerHeartbeat,
)
from crm.privacy.services import contact_access_record, contacts_access_record
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


class ConsentRecordInline(admin.TabularInline):
    """The proof of consent, as given: shown, never edited or deleted here."""

    model = ConsentRecord
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "recorded_at",
        "question",
        "answer",
        "source",
        "recorded_by",
        "import_job",
    )

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False


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

    # The admin's export and record pages show people too: they go in the access log.
    def get_data_for_export(self, request: Any, queryset: Any, **kwargs: Any) -> Any:
        contacts_access_record(contacts=queryset, by=request.user, source=request.path)
        return super().get_data_for_export(request, queryset, **kwargs)

    def change_view(
        self,
        request: Any,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        if request.method == "GET" and str(object_id).isdigit():
            contact = Contact.objects.filter(pk=int(object_id)).first()
            if contact is not None:
                contact_access_record(
                    contact=contact,
                    by=request.user,
                    action=ContactAccess.Action.VIEWED,
                    source=request.path,
                )
        return super().change_view(request, object_id, form_url, extra_context)

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
    # A consent changes through the contact form, the public form or an unsubscribe link, each
    # of which keeps the question asked (ConsentRecord); an edit here would keep none.
    readonly_fields = [
        "email_consent",
        "email_consent_at",
        "email_consent_source",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
    ]
    inlines = [MembershipInline, ConsentRecordInline]


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


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of accountability: read in the admin, written only by crm.privacy.services."""

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(ContactAccess)
class ContactAccessAdmin(ReadOnlyAdmin):
    list_display = ["at", "user", "action", "contact_id", "source", "count"]
    list_filter = ["action"]
    list_select_related = ["user"]
    date_hierarchy = "at"
    # The change list counts nothing twice: the log grows by a row per exported person.
    show_full_result_count = False


@admin.register(ContactErasure)
class ContactErasureAdmin(ReadOnlyAdmin):
    list_display = ["contact_id", "erased_at", "erased_by"]
    list_select_related = ["erased_by"]


@admin.register(ErasureReview)
class ErasureReviewAdmin(ReadOnlyAdmin):
    list_display = ["consultation", "erasure", "reviewed_at", "reviewed_by"]
    list_select_related = ["consultation", "erasure", "reviewed_by"]
