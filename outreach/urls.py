from django.urls import path

from outreach import views

urlpatterns = [
    path("", views.consultation_list, name="consultation_list"),
    path("mine/", views.consultation_mine, name="consultation_mine"),
    path("export.csv", views.consultation_export, name="consultation_export"),
    path(
        "export.xlsx",
        views.consultation_export,
        {"file_format": "xlsx"},
        name="consultation_export_xlsx",
    ),
    path("new/", views.consultation_create, name="consultation_create"),
    path("<int:pk>/", views.consultation_detail, name="consultation_detail"),
    path("<int:pk>/edit/", views.consultation_update, name="consultation_update"),
    path("<int:pk>/delete/", views.consultation_delete, name="consultation_delete"),
    path("search/unions/", views.search_unions, name="search_unions"),
    path("search/contacts/", views.search_contacts, name="search_contacts"),
]
