"""Two-factor sign-in with an authenticator app (TOTP, RFC 6238, through django-otp).

Optional for every role, required for administrators (superusers and the Administrator group):
an administrator without a confirmed authenticator is sent to set one up before any other page
(crm.middleware.TwoFactorMiddleware). A user has at most one authenticator: confirming a new
one replaces the old (a new phone).
"""

from __future__ import annotations

import math
from base64 import b32encode
from dataclasses import dataclass
from typing import Any

import qrcode
import qrcode.image.svg
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.roles import ADMINISTRATOR


def two_factor_required(user: Any) -> bool:
    return bool(user.is_superuser or user.groups.filter(name=ADMINISTRATOR).exists())


@dataclass(frozen=True)
class TwoFactorStatus:
    has_device: bool
    required: bool


def _with_two_factor_status(users: QuerySet[User]) -> QuerySet[User]:
    return users.annotate(
        has_authenticator=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
        in_administrator_group=Exists(
            User.groups.through.objects.filter(user=OuterRef("pk"), group__name=ADMINISTRATOR)
        ),
    )


class TwoFactorModelBackend(ModelBackend):
    """Django's own backend, whose user of each request comes with whether they have an
    authenticator and must have one, read in the same query (the middleware asks on every page
    of a session that has not given a code)."""

    def get_user(self, user_id: Any) -> Any:
        user = _with_two_factor_status(User._default_manager.filter(pk=user_id)).first()
        return user if user is not None and self.user_can_authenticate(user) else None


def two_factor_status(*, user: Any) -> TwoFactorStatus:
    if not hasattr(user, "has_authenticator"):
        user = _with_two_factor_status(User.objects.filter(pk=user.pk)).get()
    return TwoFactorStatus(
        has_device=user.has_authenticator,
        required=user.is_superuser or user.in_administrator_group,
    )


def confirmed_device(*, user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()


def totp_device_start(*, user: User) -> TOTPDevice:
    """The authenticator being set up: the same one until it is confirmed, so that reloading the
    page does not change the secret already scanned."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=_("Authenticator app"), confirmed=False)
    return device


def totp_device_confirm(*, user: User, code: str) -> TOTPDevice | None:
    """Confirm the authenticator being set up with a code it shows; it replaces any earlier
    one. None when the code is wrong (or asked too fast after a wrong one)."""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("-id")
            .first()
        )
        if device is None or not device.verify_token(code):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    return device


def totp_device_remove(*, user: User) -> None:
    """Turn two-factor sign-in off (not for administrators, who must keep it)."""
    if two_factor_required(user):
        raise ValidationError(_("Administrators must sign in with an authenticator app."))
    TOTPDevice.objects.filter(user=user).delete()


@dataclass(frozen=True)
class CodeCheck:
    device: TOTPDevice | None  # the device that accepted the code
    wait_seconds: int = 0  # > 0: refused unread, too soon after a wrong code


def totp_code_check(*, user: Any, code: str) -> CodeCheck:
    """Check a sign-in code against the user's confirmed authenticator. A code is accepted once:
    a code already used (or an older one) is refused."""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=True)
            .order_by("-id")
            .first()
        )
        if device is None:
            return CodeCheck(device=None)
        allowed, details = device.verify_is_allowed()
        if not allowed:
            # django-otp doubles the wait after each wrong code (1 s, 2 s, 4 s, …).
            until = (details or {}).get("locked_until")
            wait = math.ceil((until - timezone.now()).total_seconds()) if until else 1
            return CodeCheck(device=None, wait_seconds=max(1, wait))
        return CodeCheck(device=device if device.verify_token(code) else None)


def totp_secret(device: TOTPDevice) -> str:
    """The secret as an authenticator app asks for it by hand: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[index : index + 4] for index in range(0, len(secret), 4))


def totp_qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// address as a QR code: SVG drawn here (no script, no inline style, so a
    strict Content-Security-Policy holds), on white, to be readable in dark mode too."""
    image = qrcode.make(
        device.config_url, image_factory=qrcode.image.svg.SvgPathFillImage, box_size=10, border=4
    )
    svg: str = image.to_string(encoding="unicode")
    return svg
