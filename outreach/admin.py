"""Back office: the topic and concern taxonomies, and consultations with their history."""

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from outreach.models import (
    Attendance,
    Concern,
    Consultation,
    EmailTemplate,
    EmailTemplateVersion,
    FollowUp,
    PublicComment,
    Topic,
)


@admin.register(Topic, Concern)
class TaxonomyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "slug", "position", "active"]
    list_editable = ["position", "active"]
    prepopulated_fields = {"slug": ["name"]}


class AttendanceInline(admin.TabularInline):
    model = Attendance
    extra = 0
    autocomplete_fields = ["contact"]


@admin.register(Consultation)
class ConsultationAdmin(SimpleHistoryAdmin):
    list_display = ["title", "starts_at", "status", "format", "country", "position", "lead"]
    list_filter = ["status", "format", "position", "country", "topics"]
    list_select_related = ["lead"]
    search_fields = ["title", "summary"]
    date_hierarchy = "starts_at"
    autocomplete_fields = ["unions", "site"]
    filter_horizontal = ["topics", "concerns", "languages", "other_staff"]
    readonly_fields = ["created_at", "created_by", "updated_at", "updated_by"]
    inlines = [AttendanceInline]


class EmailTemplateVersionInline(admin.StackedInline):
    model = EmailTemplateVersion
    extra = 0


@admin.register(EmailTemplate)
class EmailTemplateAdmin(SimpleHistoryAdmin):
    list_display = ["name", "purpose", "active"]
    list_filter = ["purpose", "active"]
    inlines = [EmailTemplateVersionInline]


@admin.register(FollowUp)
class FollowUpAdmin(admin.ModelAdmin):
    """For looking into a delivery; staff act on follow-ups from their own pages."""

    list_display = ["contact", "status", "send_at", "sent_at", "attempts", "owner"]
    list_filter = ["status"]
    list_select_related = ["contact", "owner"]
    search_fields = ["message_id", "contact__last_name", "contact__email"]
    date_hierarchy = "send_at"
    readonly_fields = [field.name for field in FollowUp._meta.fields]


@admin.register(PublicComment)
class PublicCommentAdmin(admin.ModelAdmin):
    """For looking one up and for erasing one on request; staff moderate from their own pages,
    where the consent rules are enforced."""

    list_display = ["received_at", "name", "country", "union_name", "consent_to_publish", "status"]
    list_filter = ["status", "consent_to_publish", "updates_opt_in", "language", "country"]
    list_select_related = ["union", "contact"]
    search_fields = ["name", "email", "union_name", "comment"]
    date_hierarchy = "received_at"
    readonly_fields = [field.name for field in PublicComment._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
