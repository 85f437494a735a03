"""Back office: the topic and concern taxonomies, and consultations with their history."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from outreach.models import Attendance, Concern, Consultation, Topic


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
