"""Sign-in (password, then the authenticator code for those who have one), two-factor set-up,
"confirm it's you" before exports, and the staff member's own settings."""

from __future__ import annotations

import time
from typing import Any, cast

import django_otp
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth import login as auth_login
from django.contrib.auth.models import User
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import RegexValidator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm import lockout, services, twofactor
from crm.access import any_role_required
from crm.middleware import SESSION_KEY
from crm.models import StaffProfile
from crm.reauth import recent_auth_required, safe_next, session_mark_confirmed
from crm.timezones import timezone_names

# The password step's result waits here (the session stays anonymous) until the code is given.
PENDING_KEY = "sign_in_pending"
# A code step left open longer than this starts again from the password.
PENDING_SECONDS = 300


def _sign_in_complete(request: HttpRequest, *, user: User, device: TOTPDevice | None) -> None:
    """Every factor was given: the session becomes the user's."""
    auth_login(request, user, backend=getattr(user, "backend", None))
    if device is not None:
        django_otp.login(request, device)
    session_mark_confirmed(request.session)
    zone = StaffProfile.objects.filter(user=user).values_list("timezone", flat=True).first()
    request.session[SESSION_KEY] = zone or ""


class StaffLoginView(LoginView):
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if twofactor.confirmed_device(user=user) is not None:
            self.request.session[PENDING_KEY] = {
                "user": user.pk,
                "backend": user.backend,
                "at": int(time.time()),
                "next": self.get_success_url(),
            }
            return redirect("login_code")
        _sign_in_complete(self.request, user=user, device=None)
        return HttpResponseRedirect(self.get_success_url())


def admin_login(request: HttpRequest) -> HttpResponseBase:
    """The Django admin signs in through the one sign-in page (lockout, authenticator code):
    its own form would take a password alone."""
    if request.user.is_authenticated:
        # Signed in without access to the admin: sending them to sign in would loop.
        raise PermissionDenied("not staff")
    return redirect_to_login(safe_next(request, request.GET.get("next"), reverse("admin:index")))


class CodeField(forms.CharField):
    """Six digits; spaces between them (as apps show them) are dropped first."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            label=gettext_lazy("Code from your authenticator app"),
            max_length=20,
            validators=[
                RegexValidator(r"^\d{6}$", gettext_lazy("Enter the 6 digits your app shows."))
            ],
            widget=forms.TextInput(
                attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "size": 8}
            ),
            **kwargs,
        )

    def to_python(self, value: Any) -> str:
        return "".join(str(super().to_python(value)).split())


class CodeForm(forms.Form):
    code = CodeField()


def _wrong_code_message(check: twofactor.CodeCheck) -> str:
    if check.wait_seconds:
        return ngettext(
            "Too many wrong codes: wait %(seconds)d second and try again.",
            "Too many wrong codes: wait %(seconds)d seconds and try again.",
            check.wait_seconds,
        ) % {"seconds": check.wait_seconds}
    return _(
        "That code is not right. Check that your phone's clock is correct and enter the code "
        "your app shows now."
    )


def _pending_sign_in(request: HttpRequest) -> tuple[User, dict[str, Any]] | None:
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    user = User.objects.filter(pk=int(pending.get("user", 0)), is_active=True).first()
    if user is None:
        return None
    user.backend = pending["backend"]
    return user, pending


@sensitive_post_parameters("code")
def login_code(request: HttpRequest) -> HttpResponseBase:
    """The second step of signing in: the code of the user's authenticator app."""
    found = _pending_sign_in(request)
    if found is None:
        request.session.pop(PENDING_KEY, None)
        messages.info(request, _("Please sign in again."))
        return redirect("login")
    user, pending = found
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not lockout.sign_in_allowed(request, username=user.get_username()):
            return lockout.lockout_response(request)
        check = twofactor.totp_code_check(user=user, code=form.cleaned_data["code"])
        if check.device is not None:
            del request.session[PENDING_KEY]
            _sign_in_complete(request, user=user, device=check.device)
            return HttpResponseRedirect(pending["next"])
        lockout.sign_in_failed(request, username=user.get_username())
        form.add_error("code", _wrong_code_message(check))
    return render(request, "registration/login_code.html", {"form": form})


@any_role_required
@recent_auth_required
@sensitive_post_parameters("code")
def two_factor_setup(request: HttpRequest) -> HttpResponseBase:
    """Add an authenticator app: scan the code (or type the secret), then give a code it shows."""
    user = cast(User, request.user)
    next_url = safe_next(
        request, request.POST.get("next") or request.GET.get("next"), reverse("my_settings")
    )
    device = twofactor.totp_device_start(user=user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        confirmed = twofactor.totp_device_confirm(user=user, code=form.cleaned_data["code"])
        if confirmed is not None:
            django_otp.login(request, confirmed)
            messages.success(request, _("Two-factor sign-in is on."))
            return HttpResponseRedirect(next_url)
        form.add_error("code", _wrong_code_message(twofactor.CodeCheck(device=None)))
    context = {
        "form": form,
        "qr_svg": twofactor.totp_qr_svg(device),
        "secret": twofactor.totp_secret(device),
        "next": next_url,
        "required": twofactor.two_factor_required(user),
        "replacing": twofactor.confirmed_device(user=user) is not None,
    }
    return render(request, "account/two_factor_setup.html", context)


@any_role_required
@recent_auth_required
def two_factor_remove(request: HttpRequest) -> HttpResponseBase:
    """Turn two-factor sign-in off (GET asks, POST does it; administrators cannot)."""
    user = cast(User, request.user)
    if request.method == "POST":
        try:
            twofactor.totp_device_remove(user=user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Two-factor sign-in is off."))
        return redirect("my_settings")
    return render(
        request,
        "account/two_factor_remove.html",
        {"required": twofactor.two_factor_required(user)},
    )


class ConfirmIdentityForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )

    def __init__(self, *args: Any, request: HttpRequest, with_code: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        if with_code:
            self.fields["code"] = CodeField()

    @sensitive_variables("password")
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        user = self.request.user
        password = cleaned.get("password")
        if password is None or ("code" in self.fields and not cleaned.get("code")):
            return cleaned
        # authenticate() counts a wrong password and refuses while locked out (django-axes).
        if authenticate(self.request, username=user.get_username(), password=password) is None:
            raise ValidationError(_("That password is not right."), code="invalid_password")
        if "code" in self.fields:
            check = twofactor.totp_code_check(user=user, code=cleaned["code"])
            if check.device is None:
                lockout.sign_in_failed(self.request, username=user.get_username())
                self.add_error("code", _wrong_code_message(check))
        return cleaned


@sensitive_post_parameters("password", "code")
def confirm_identity(request: HttpRequest) -> HttpResponseBase:
    """ "Confirm it's you": the password again (and the code), then on to the page asked for."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    next_url = safe_next(
        request, request.POST.get("next") or request.GET.get("next"), reverse("home")
    )
    form = ConfirmIdentityForm(
        request.POST or None,
        request=request,
        with_code=twofactor.confirmed_device(user=request.user) is not None,
    )
    if request.method == "POST" and form.is_valid():
        session_mark_confirmed(request.session)
        return HttpResponseRedirect(next_url)
    return render(
        request,
        "account/confirm_identity.html",
        {"form": form, "next": next_url, "minutes": settings.REAUTH_MINUTES},
    )


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
    two_factor = twofactor.two_factor_status(user=request.user)
    return render(request, "account/my_settings.html", {"form": form, "two_factor": two_factor})
