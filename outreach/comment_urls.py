"""Public comments: the public pages (no login) under /voice/, the staff queue under /comments/."""

from django.urls import path

from outreach import comment_views

public_patterns = [
    path("", comment_views.comment_submit, name="submit"),
    path("thanks/", comment_views.comment_thanks, name="thanks"),
    path("comments/", comment_views.comment_published, name="published"),
]

staff_patterns = [
    path("", comment_views.comment_list, name="list"),
    path("<int:pk>/", comment_views.comment_detail, name="detail"),
    path("<int:pk>/contact/", comment_views.comment_link_contact, name="link_contact"),
    path("<int:pk>/contact/new/", comment_views.comment_create_contact, name="create_contact"),
    path("<int:pk>/union/", comment_views.comment_set_union, name="set_union"),
    path("<int:pk>/<slug:action>/", comment_views.comment_moderate, name="moderate"),
]
