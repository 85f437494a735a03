"""Sign-in and the staff member's own settings."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm import services
from crm.access import any_role_required
from crm.middleware import SESSION_KEY
from crm.models import StaffProfile
from crm.timezones import timezone_names


class StaffLoginView(LoginView):
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        zone = (
            StaffProfile.objects.filter(user=form.get_user())
            .values_list("timezone", flat=True)
            .first()
        )
        self.request.session[SESSION_KEY] = zone or ""
        return response


class MySettingsForm(forms.Form):
    timezone = forms.ChoiceField(
        label=gettext_lazy("Time zone"),
        required=False,
        help_text=gettext_lazy("Dates and times are shown and entered in this zone."),
    )

    weekly_digest = forms.BooleanField(
        label=gettext_lazy("Send me the weekly consultation report by e-mail"),
        required=False,
        help_text=gettext_lazy("Every Monday morning, last week's figures."),
    )

    def __init__(self, *args: Any, may_read_reports: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [  # type: ignore[attr-defined]
            ("", _("My browser's time zone")),
            *[(name, name) for name in timezone_names()],
        ]
        if not may_read_reports:
            del self.fields["weekly_digest"]


@any_role_required
def my_settings(request: HttpRequest) -> HttpResponse:
    profile = StaffProfile.objects.filter(user_id=cast(int, request.user.pk)).first()
    may_read_reports = request.user.has_perm("outreach.view_reports")
    form = MySettingsForm(
        request.POST or None,
        initial={
            "timezone": profile.timezone if profile else "",
            "weekly_digest": profile.weekly_digest if profile else False,
        },
        may_read_reports=may_read_reports,
    )
    if request.method == "POST" and form.is_valid():
        services.staff_profile_update(
            user=request.user,
            timezone_name=form.cleaned_data["timezone"],
            weekly_digest=form.cleaned_data["weekly_digest"] if may_read_reports else None,
        )
        request.session[SESSION_KEY] = form.cleaned_data["timezone"]
        messages.success(request, _("Your settings are saved."))
        return redirect("my_settings")
    return render(request, "account/my_settings.html", {"form": form})
