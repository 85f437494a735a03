"""Follow-up pages for staff (schedule, my follow-ups, actions) and the public unsubscribe page."""

from __future__ import annotations

from typing import Any, cast
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm import services as crm_services
from crm.access import role_required
from crm.forms import add_service_errors
from crm.models import ConsentSource, Contact
from outreach import services
from outreach.forms import FollowUpForm, RescheduleForm
from outreach.merge import FIELDS as MERGE_FIELDS
from outreach.models import Consultation, EmailTemplate, EmailTemplateVersion, FollowUp
from outreach.permissions import can_manage_followup
from outreach.selectors import my_followups
from outreach.services.followups import contact_zone, followup_email, template_preview
from outreach.unsubscribe import contact_from_token


def _zone_for(contact: Contact) -> tuple[ZoneInfo, bool]:
    """The person's clock, or, when it is unknown, the staff member's own (and which it is)."""
    zone = contact_zone(contact)
    return (zone, True) if zone else (ZoneInfo(timezone.get_current_timezone_name()), False)


@role_required("outreach.add_followup")
def followup_create(request: HttpRequest) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=_int(request.GET.get("contact")))
    consultation = Consultation.objects.filter(pk=_int(request.GET.get("consultation"))).first()
    zone, zone_is_theirs = _zone_for(contact)
    form = FollowUpForm(request.POST or None, zone=zone, zone_is_theirs=zone_is_theirs)
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if "preview" in request.POST:
            preview = _preview(request, contact, consultation, data)
        else:
            try:
                services.followup_schedule(
                    contact=contact,
                    owner=request.user,
                    send_at=data["send_at"],
                    template=data["template"],
                    subject=data["subject"],
                    body=data["body"],
                    consultation=consultation,
                    submission_key=data["submission_key"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Follow-up scheduled."))
                return redirect(contact)
    context = {
        "form": form,
        "contact": contact,
        "consultation": consultation,
        "preview": preview,
        "merge_fields": list(MERGE_FIELDS.items()),
    }
    return render(request, "outreach/followup_form.html", context)


def _preview(
    request: HttpRequest, contact: Contact, consultation: Consultation | None, data: dict[str, Any]
) -> Any:
    """The e-mail as this person would receive it; nothing is saved."""
    followup = FollowUp(
        contact=contact,
        owner=cast(User, request.user),
        consultation=consultation,
        template=data["template"],
        subject=data["subject"] or "",
        body=data["body"] or "",
        send_at=data["send_at"],
        message_id="<preview@localhost>",
    )
    return followup_email(followup)


def _int(value: str | None) -> int:
    return int(value) if value and value.isascii() and value.isdigit() else 0


@role_required("outreach.view_followup")
def followup_list(request: HttpRequest) -> HttpResponse:
    everyone = request.GET.get("all") == "1" and request.user.has_perm(
        "outreach.view_all_followups"
    )
    sections = my_followups(owner=None if everyone else request.user)
    return render(
        request, "outreach/followup_list.html", {"sections": sections, "everyone": everyone}
    )


def _managed(request: HttpRequest, pk: int) -> FollowUp:
    followup = get_object_or_404(FollowUp.objects.select_related("contact"), pk=pk)
    if not can_manage_followup(request.user, followup):
        raise PermissionDenied("not the owner")
    return followup


ACTIONS = {
    "cancel": (services.followup_cancel, _("Follow-up cancelled.")),
    "send-now": (services.followup_send_now, _("Follow-up queued for sending now.")),
    "retry": (services.followup_retry, _("Follow-up scheduled again.")),
}


@role_required("outreach.change_followup")
@require_POST
def followup_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise Http404
    followup = _managed(request, pk)
    service, done = ACTIONS[action]
    try:
        service(followup=followup, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done)
    target = _next_page(request)
    return HttpResponseRedirect(target) if target else redirect("followups:list")


def _next_page(request: HttpRequest) -> str | None:
    """The page of this site the action was taken on. Only a path: redirect() would take any
    other word for a view's name (a server error), and a relative one would lead nowhere."""
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}
    ):
        return target
    return None


@role_required("outreach.change_followup")
def followup_reschedule(request: HttpRequest, pk: int) -> HttpResponse:
    followup = _managed(request, pk)
    zone, _theirs = _zone_for(followup.contact)
    local = followup.send_at.astimezone(zone)
    form = RescheduleForm(
        request.POST or None,
        zone=zone,
        initial={"send_date": local.date(), "send_time": local.time()},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.followup_reschedule(
                followup=followup, send_at=form.cleaned_data["send_at"], by=request.user
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Follow-up rescheduled."))
            return redirect("followups:list")
    return render(
        request,
        "outreach/followup_reschedule.html",
        {"form": form, "followup": followup, "zone": zone},
    )


@role_required("outreach.view_emailtemplate")
def template_list(request: HttpRequest) -> HttpResponse:
    templates = EmailTemplate.objects.prefetch_related("versions__language").order_by("name")
    version = None
    if (pk := _int(request.GET.get("preview"))) and (
        version := EmailTemplateVersion.objects.select_related("template").filter(pk=pk).first()
    ):
        preview = template_preview(version=version, owner=request.user)
    else:
        preview = None
    context = {
        "templates": templates,
        "preview": preview,
        "previewed": version,
        "merge_fields": MERGE_FIELDS,
    }
    return render(request, "outreach/template_list.html", context)


# What the person answered, kept with their withdrawal: the page's question (as
# outreach/unsubscribe_confirm.html shows it), or their e-mail program's own button (RFC 8058).
UNSUBSCRIBE_QUESTION = gettext_lazy("Stop receiving our e-mails?")
ONE_CLICK_QUESTION = gettext_lazy("Unsubscribe (the one-click button of the e-mail program)")


# Public: the link in every e-mail. No login and no cookies: mail providers post to it directly
# (RFC 8058 one-click), and a GET, which link scanners make, changes nothing.


@csrf_exempt
@never_cache
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    contact = contact_from_token(token)
    if contact is None:
        return render(request, "outreach/unsubscribe_invalid.html", status=404)
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        crm_services.contact_email_opt_out(
            contact=contact,
            source=ConsentSource.UNSUBSCRIBE,
            question=str(ONE_CLICK_QUESTION if one_click else UNSUBSCRIBE_QUESTION),
        )
        return render(request, "outreach/unsubscribe_done.html")
    return render(
        request, "outreach/unsubscribe_confirm.html", {"contact": contact, "token": token}
    )
