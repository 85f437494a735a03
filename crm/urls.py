from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from crm import account, health, views
from crm.importing import views as import_views
from crm.privacy import views as privacy_views
from outreach import comment_urls, followup_views

crm_patterns = [
    path("contacts/", views.contact_list, name="contact_list"),
    path("contacts/new/", views.contact_create, name="contact_create"),
    re_path(
        r"^contacts/export\.(?P<file_format>csv|xlsx)$", views.contact_export, name="contact_export"
    ),
    path("contacts/<int:pk>/", views.contact_detail, name="contact_detail"),
    path("contacts/<int:pk>/edit/", views.contact_update, name="contact_update"),
    # Data subject requests: administrators only, each a view of its own (see privacy/views.py).
    path(
        "contacts/<int:pk>/subject-export.json",
        privacy_views.contact_subject_export,
        name="contact_subject_export",
    ),
    path(
        "contacts/<int:pk>/subject-export/",
        privacy_views.contact_subject_report,
        name="contact_subject_report",
    ),
    path("contacts/<int:pk>/erase/", privacy_views.contact_erase, name="contact_erase"),
    path("privacy/access-log/", privacy_views.access_log, name="access_log"),
    path("privacy/erasures/", privacy_views.erasure_list, name="erasure_list"),
    path(
        "privacy/reviews/<int:pk>/done/",
        privacy_views.erasure_review_done,
        name="erasure_review_done",
    ),
    path("contacts/<int:pk>/memberships/new/", views.membership_create, name="membership_create"),
    path("memberships/<int:pk>/end/", views.membership_end, name="membership_end"),
    path("unions/", views.union_list, name="union_list"),
    path("unions/new/", views.union_create, name="union_create"),
    re_path(r"^unions/export\.(?P<file_format>csv|xlsx)$", views.union_export, name="union_export"),
    path("unions/<int:pk>/", views.union_detail, name="union_detail"),
    path("unions/<int:pk>/edit/", views.union_update, name="union_update"),
    path("employers/", views.employer_list, name="employer_list"),
    path("employers/new/", views.employer_create, name="employer_create"),
    path("employers/<int:pk>/", views.employer_detail, name="employer_detail"),
    path("employers/<int:pk>/edit/", views.employer_update, name="employer_update"),
    path("employers/<int:employer_pk>/sites/new/", views.site_create, name="site_create"),
    path("sites/<int:pk>/edit/", views.site_update, name="site_update"),
    path("imports/", import_views.import_list, name="import_list"),
    path("imports/new/", import_views.import_create, name="import_create"),
    path("imports/<int:pk>/", import_views.import_detail, name="import_detail"),
    path("imports/<int:pk>/mapping/", import_views.import_map, name="import_map"),
    path("imports/<int:pk>/confirm/", import_views.import_confirm, name="import_confirm"),
    path("imports/<int:pk>/retry/", import_views.import_retry, name="import_retry"),
    path("imports/<int:pk>/cancel/", import_views.import_cancel, name="import_cancel"),
    path("imports/<int:pk>/progress/", import_views.import_progress, name="import_progress"),
    path("imports/<int:pk>/rejected.csv", import_views.import_errors, name="import_errors"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("", include((crm_patterns, "crm"))),
    path("accounts/login/", account.StaffLoginView.as_view(), name="login"),
    path("accounts/login/code/", account.login_code, name="login_code"),
    path("accounts/confirm/", account.confirm_identity, name="confirm_identity"),
    path("accounts/settings/", account.my_settings, name="my_settings"),
    path("accounts/two-factor/", account.two_factor_setup, name="two_factor_setup"),
    path("accounts/two-factor/remove/", account.two_factor_remove, name="two_factor_remove"),
    path("consultations/", include(("outreach.urls", "outreach"))),
    path("followups/", include("outreach.followup_urls")),
    path("reports/", include("outreach.report_urls")),
    path("comments/", include((comment_urls.staff_patterns, "comments"))),
    # Public, no login: "Share your voice" and the comments published with consent.
    path("voice/", include((comment_urls.public_patterns, "voice"))),
    path("u/<str:token>/", followup_views.unsubscribe, name="unsubscribe"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", health.healthz, name="healthz"),
    # Before the admin's own: its sign-in form would take a password without the code.
    path("admin/login/", account.admin_login, name="admin_login"),
    path("admin/", admin.site.urls),
]

handler500 = "crm.errors.server_error"
