from django.urls import path

from outreach import followup_views

app_name = "followups"

urlpatterns = [
    path("", followup_views.followup_list, name="list"),
    path("new/", followup_views.followup_create, name="create"),
    path("templates/", followup_views.template_list, name="templates"),
    path("<int:pk>/reschedule/", followup_views.followup_reschedule, name="reschedule"),
    path("<int:pk>/<slug:action>/", followup_views.followup_action, name="action"),
]
