"""Consultation pages: list, mine, export, detail, the quick log, edit and delete."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.access import role_required
from crm.exports import csv_response, xlsx_response
from crm.forms import add_service_errors
from crm.history import history_entries
from crm.paging import page_of, query_without_page
from crm.reauth import recent_auth_required
from crm.selectors import contact_search, union_search
from outreach import services
from outreach.forms import ConsultationFilterForm, ConsultationForm, NewAttendeeFormSet
from outreach.models import Attendance, Consultation
from outreach.permissions import can_delete, can_edit
from outreach.selectors import consultation_detail as detail_query
from outreach.selectors import consultation_followups
from outreach.selectors import consultation_list as list_query

SEARCH_LIMIT = 8


def _list_page(request: HttpRequest, *, mine: bool) -> HttpResponse:
    form = ConsultationFilterForm(request.GET or None)
    filters = form.filters(staff=request.user) if mine else form.filters()
    page = page_of(request, list_query(filters=filters))
    context = {"form": form, "page": page, "query": query_without_page(request), "mine": mine}
    return render(request, "outreach/consultation_list.html", context)


@role_required("outreach.view_consultation")
def consultation_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request, mine=False)


@role_required("outreach.view_consultation")
def consultation_mine(request: HttpRequest) -> HttpResponse:
    return _list_page(request, mine=True)


def _export_header() -> list[str]:
    return [
        _("Starts at"),
        _("Title"),
        _("Status"),
        _("Format"),
        _("Country"),
        _("City"),
        _("Unions"),
        _("Number of attendees"),
        _("Topics"),
        _("Position"),
        _("Lead"),
    ]


def _export_row(consultation: Consultation) -> list[Any]:
    return [
        timezone.localtime(consultation.starts_at).isoformat(timespec="minutes"),
        consultation.title,
        consultation.get_status_display(),
        consultation.get_format_display(),
        str(consultation.country),
        consultation.city,
        "; ".join(union.short_name for union in consultation.unions.all()),
        getattr(consultation, "attendee_count", 0),
        "; ".join(str(topic) for topic in consultation.topics.all()),
        consultation.get_position_display(),
        consultation.lead.get_username(),
    ]


@role_required("outreach.export_consultations")
@recent_auth_required
def consultation_export(request: HttpRequest, file_format: str = "csv") -> HttpResponseBase:
    consultations = list_query(filters=ConsultationFilterForm(request.GET or None).filters())
    # Chunks keep memory flat for a large campaign; prefetches run per chunk.
    rows = (_export_row(c) for c in consultations.iterator(chunk_size=500))
    if file_format == "xlsx":
        return xlsx_response(
            header=_export_header(), rows=rows, filename="consultations.xlsx", sheet="consultations"
        )
    return csv_response(header=_export_header(), rows=rows, filename="consultations.csv")


@role_required("outreach.view_consultation")
def consultation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        consultation = detail_query(pk=pk)
    except Consultation.DoesNotExist:
        raise Http404 from None
    context = {
        "consultation": consultation,
        "can_edit": can_edit(request.user, consultation),
        "can_delete": can_delete(request.user, consultation),
        "history": history_entries(obj=consultation),
        "followups": consultation_followups(consultation=consultation),
    }
    return render(request, "outreach/consultation_detail.html", context)


def _log_form(request: HttpRequest, consultation: Consultation | None) -> tuple[Any, Any]:
    new_people = NewAttendeeFormSet(request.POST or None, prefix="new")
    has_new_people = new_people.is_bound and any(row.has_changed() for row in new_people.forms)
    form = ConsultationForm(
        request.POST or None, instance=consultation, has_new_people=has_new_people
    )
    return form, new_people


def _form_context(
    form: ConsultationForm, new_people: Any, consultation: Consultation | None
) -> dict[str, Any]:
    return {
        "form": form,
        "new_people": new_people,
        "consultation": consultation,
        "attendance_roles": Attendance.Role.choices,
    }


def _valid(form: ConsultationForm, new_people: Any) -> bool:
    # Both validated, so that every error shows at once.
    return all([form.is_valid(), new_people.is_valid()])


def _log_data(form: ConsultationForm, new_people: Any) -> dict[str, Any]:
    return {**form.cleaned_data, "new_attendees": new_people.attendees()}


def _already_saved(request: HttpRequest) -> Consultation | None:
    """The consultation a resent form (double click, back and save again) saved before."""
    try:
        key = uuid.UUID(request.POST.get("submission_key", ""))
    except ValueError:
        return None
    return Consultation.objects.filter(submission_key=key).first()


@role_required("outreach.add_consultation")
def consultation_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and (saved := _already_saved(request)) is not None:
        # Checked before validation: the first submission may have created the new people, whose
        # e-mail addresses would now look taken.
        messages.info(request, _("This consultation was saved already; here it is."))
        return redirect(saved)
    form, new_people = _log_form(request, None)
    if request.method == "POST" and _valid(form, new_people):
        try:
            consultation = services.consultation_create(
                data=_log_data(form, new_people),
                by=request.user,
                submission_key=form.cleaned_data["submission_key"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Consultation logged."))
            _report_followups(request, consultation)
            return redirect(consultation)
    return render(request, "outreach/consultation_form.html", _form_context(form, new_people, None))


def _report_followups(request: HttpRequest, consultation: Consultation) -> None:
    report = getattr(consultation, "followup_report", None)
    if report is None:
        return
    messages.success(
        request,
        ngettext(
            "%(count)d follow-up e-mail scheduled.",
            "%(count)d follow-up e-mails scheduled.",
            len(report.scheduled),
        )
        % {"count": len(report.scheduled)},
    )
    for contact, reason in report.skipped:
        messages.warning(
            request,
            _("No follow-up for %(name)s: %(reason)s")
            % {"name": contact.full_name, "reason": reason},
        )


def _editable(request: HttpRequest, pk: int) -> Consultation:
    consultation = get_object_or_404(Consultation, pk=pk)
    if not can_edit(request.user, consultation):
        raise PermissionDenied("not the lead")
    return consultation


@role_required("outreach.change_consultation")
def consultation_update(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = _editable(request, pk)
    form, new_people = _log_form(request, consultation)
    if request.method == "POST" and _valid(form, new_people):
        try:
            services.consultation_update(
                consultation=consultation, data=_log_data(form, new_people), by=request.user
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Consultation saved."))
            _report_followups(request, consultation)
            return redirect(consultation)
    return render(
        request, "outreach/consultation_form.html", _form_context(form, new_people, consultation)
    )


@role_required("outreach.delete_consultation")
def consultation_delete(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = get_object_or_404(Consultation, pk=pk)
    if not can_delete(request.user, consultation):
        raise PermissionDenied("not the lead")
    if request.method == "POST":
        services.consultation_delete(consultation=consultation, by=request.user)
        messages.success(request, _("Consultation deleted. Its history is kept."))
        return redirect("outreach:consultation_list")
    return render(
        request, "outreach/consultation_confirm_delete.html", {"consultation": consultation}
    )


@role_required("crm.view_union")
def search_unions(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:100]
    results = union_search(query=query, limit=SEARCH_LIMIT)
    return render(request, "outreach/search_unions.html", {"results": results, "query": query})


@role_required("crm.view_contact")
def search_contacts(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:100]
    results = contact_search(query=query, limit=SEARCH_LIMIT)
    return render(request, "outreach/search_contacts.html", {"results": results, "query": query})
