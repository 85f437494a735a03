from django.urls import path, re_path

from outreach import report_views

app_name = "reports"

urlpatterns = [
    path("", report_views.dashboard, name="dashboard"),
    re_path(
        r"^consultations\.(?P<file_format>csv|xlsx)$",
        report_views.consultations_export,
        name="consultations_export",
    ),
    re_path(
        r"^(?P<table>[a-z_]+)\.(?P<file_format>csv|xlsx)$",
        report_views.table_export,
        name="table_export",
    ),
]
