"""Staff pages for unions, employers and contacts: permission, form, one service call, response."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.forms import BaseForm
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from crm import selectors, services
from crm.access import role_required
from crm.exports import csv_response, xlsx_response
from crm.forms import (
    ContactFilterForm,
    ContactForm,
    EmployerForm,
    MembershipForm,
    SiteForm,
    UnionFilterForm,
    UnionForm,
    add_service_errors,
)
from crm.importing.headers import CONTACT_COLUMNS, UNION_COLUMNS
from crm.models import Contact, Employer, Membership, Site, Union
from crm.navigation import nav_items_for
from crm.paging import page_of, query_without_page
from crm.privacy import selectors as privacy_selectors
from crm.privacy import services as privacy_services
from crm.privacy.models import ContactAccess
from crm.reauth import recent_auth_required

# The timelines gather what the other apps know about a person or a union (consultations now;
# follow-ups and imports as they come), so the core pages ask the outreach app for them.
from outreach.selectors import contact_timeline, union_timeline


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    items = nav_items_for(request.user)
    if not items:
        raise PermissionDenied("no role")
    return redirect(items[0].url)


def _save(request: HttpRequest, form: BaseForm, action: Callable[[], Any]) -> Any:
    """Run a service with the form's data; its validation errors are shown on the form."""
    try:
        return action()
    except ValidationError as error:
        add_service_errors(form, error)
        return None


# Contacts


def _results_only(request: HtmxHttpRequest) -> bool:
    # A history restore (back button after the cache expired) needs the whole page.
    return bool(request.htmx) and not request.htmx.history_restore_request


@role_required("crm.view_contact")
@vary_on_headers("HX-Request")
def contact_list(request: HtmxHttpRequest) -> HttpResponse:
    form = ContactFilterForm(request.GET or None)
    page = page_of(request, selectors.contact_list(filters=form.filters()))
    template = "crm/contact_results.html" if _results_only(request) else "crm/contact_list.html"
    return render(
        request, template, {"form": form, "page": page, "query": query_without_page(request)}
    )


@role_required("crm.export_contacts")
@recent_auth_required
def contact_export(request: HttpRequest, file_format: str) -> HttpResponseBase:
    """The contacts of the list's current filter, in the columns the importer reads."""
    form = ContactFilterForm(request.GET or None)
    filters = form.filters()
    privacy_services.contacts_access_record(
        contacts=selectors.contact_list(filters=filters), by=request.user, source=request.path
    )
    rows = selectors.contact_export_rows(filters=filters)
    header = list(CONTACT_COLUMNS)
    if file_format == "xlsx":
        return xlsx_response(header=header, rows=rows, filename="contacts.xlsx", sheet="contacts")
    return csv_response(header=header, rows=rows, filename="contacts.csv")


@role_required("crm.export_contacts")
@recent_auth_required
def union_export(request: HttpRequest, file_format: str) -> HttpResponseBase:
    """The unions of the list's current filter, in the columns the union importer reads."""
    form = UnionFilterForm(request.GET or None)
    rows = selectors.union_rows(unions=selectors.union_list(filters=form.filters()))
    header = list(UNION_COLUMNS)
    if file_format == "xlsx":
        return xlsx_response(header=header, rows=rows, filename="unions.xlsx", sheet="unions")
    return csv_response(header=header, rows=rows, filename="unions.csv")


@role_required("crm.view_contact")
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        contact = selectors.contact_detail(pk=pk)
    except Contact.DoesNotExist:
        raise Http404 from None
    privacy_services.contact_access_record(
        contact=contact, by=request.user, action=ContactAccess.Action.VIEWED, source=request.path
    )
    context = {
        "contact": contact,
        "timeline": contact_timeline(contact=contact),
        "consents": selectors.consent_records(contact=contact),
        "erasure": privacy_selectors.contact_erasure(contact_id=contact.pk),
        "accesses": privacy_selectors.contact_accesses(contact=contact)
        if request.user.has_perm("crm.view_contactaccess")
        else None,
    }
    return render(request, "crm/contact_detail.html", context)


@role_required("crm.add_contact")
def contact_create(request: HttpRequest) -> HttpResponse:
    form = ContactForm(
        request.POST or None, allow_membership=request.user.has_perm("crm.add_membership")
    )
    if request.method == "POST" and form.is_valid():
        contact = _save(
            request, form, lambda: services.contact_create(data=form.cleaned_data, by=request.user)
        )
        if contact is not None:
            messages.success(request, _("Contact %(name)s created.") % {"name": contact})
            return redirect(contact)
    return render(request, "crm/contact_form.html", {"form": form})


def _editable_contact(pk: int) -> Contact:
    """A contact that may be changed: an erased person's placeholder may not be filled again."""
    contact = get_object_or_404(Contact, pk=pk)
    if privacy_selectors.contact_erasure(contact_id=contact.pk) is not None:
        raise Http404("erased")
    return contact


@role_required("crm.change_contact")
def contact_update(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _editable_contact(pk)
    form = ContactForm(request.POST or None, instance=contact)
    if request.method == "POST" and form.is_valid():
        saved = _save(
            request,
            form,
            lambda: services.contact_update(
                contact=contact, data=form.cleaned_data, by=request.user
            ),
        )
        if saved is not None:
            messages.success(request, _("Contact %(name)s saved.") % {"name": saved})
            return redirect(saved)
    return render(request, "crm/contact_form.html", {"form": form, "contact": contact})


@role_required("crm.add_membership")
def membership_create(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _editable_contact(pk)
    form = MembershipForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        membership = _save(
            request,
            form,
            lambda: services.membership_add(
                contact=contact,
                union=data["union"],
                role=data["role"],
                start_date=data["start_date"],
                end_date=data["end_date"],
                by=request.user,
            ),
        )
        if membership is not None:
            messages.success(request, _("Membership added."))
            return redirect(contact)
    return render(request, "crm/membership_form.html", {"form": form, "contact": contact})


@role_required("crm.change_membership")
@require_POST
def membership_end(request: HttpRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("contact"), pk=pk)
    try:
        services.membership_end(membership=membership, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Membership ended today."))
    return redirect(membership.contact)


# Unions


@role_required("crm.view_union")
@vary_on_headers("HX-Request")
def union_list(request: HtmxHttpRequest) -> HttpResponse:
    form = UnionFilterForm(request.GET or None)
    page = page_of(request, selectors.union_list(filters=form.filters()))
    template = "crm/union_results.html" if _results_only(request) else "crm/union_list.html"
    return render(
        request, template, {"form": form, "page": page, "query": query_without_page(request)}
    )


@role_required("crm.view_union")
def union_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        union = selectors.union_detail(pk=pk)
    except Union.DoesNotExist:
        raise Http404 from None
    context = {
        "union": union,
        "members": selectors.union_members(union=union)
        if request.user.has_perm("crm.view_contact")
        else [],
        "people_count": selectors.union_people_count(union=union),
        "timeline": union_timeline(union=union),
    }
    return render(request, "crm/union_detail.html", context)


@role_required("crm.add_union")
def union_create(request: HttpRequest) -> HttpResponse:
    form = UnionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        union = _save(
            request, form, lambda: services.union_create(data=form.cleaned_data, by=request.user)
        )
        if union is not None:
            messages.success(request, _("Union %(name)s created.") % {"name": union})
            return redirect(union)
    return render(request, "crm/union_form.html", {"form": form})


@role_required("crm.change_union")
def union_update(request: HttpRequest, pk: int) -> HttpResponse:
    union = get_object_or_404(Union, pk=pk)
    form = UnionForm(request.POST or None, instance=union)
    if request.method == "POST" and form.is_valid():
        saved = _save(
            request,
            form,
            lambda: services.union_update(union=union, data=form.cleaned_data, by=request.user),
        )
        if saved is not None:
            messages.success(request, _("Union %(name)s saved.") % {"name": saved})
            return redirect(saved)
    return render(request, "crm/union_form.html", {"form": form, "union": union})


# Employers and sites


@role_required("crm.view_employer")
def employer_list(request: HttpRequest) -> HttpResponse:
    employers = Employer.objects.annotate(site_count=Count("sites", distinct=True)).order_by("name")
    return render(request, "crm/employer_list.html", {"page": page_of(request, employers)})


@role_required("crm.view_employer")
def employer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    employer = get_object_or_404(Employer, pk=pk)
    sites = (
        employer.sites.select_related("sector")
        .annotate(contact_count=Count("contacts"))
        .order_by("country", "city")
    )
    return render(request, "crm/employer_detail.html", {"employer": employer, "sites": sites})


@role_required("crm.add_employer")
def employer_create(request: HttpRequest) -> HttpResponse:
    form = EmployerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        employer = _save(
            request, form, lambda: services.record_save(instance=form.instance, by=request.user)
        )
        if employer is not None:
            return redirect("crm:employer_detail", pk=employer.pk)
    return render(request, "crm/employer_form.html", {"form": form})


@role_required("crm.change_employer")
def employer_update(request: HttpRequest, pk: int) -> HttpResponse:
    form = EmployerForm(request.POST or None, instance=get_object_or_404(Employer, pk=pk))
    if request.method == "POST" and form.is_valid():
        employer = _save(
            request, form, lambda: services.record_save(instance=form.instance, by=request.user)
        )
        if employer is not None:
            return redirect("crm:employer_detail", pk=employer.pk)
    return render(request, "crm/employer_form.html", {"form": form, "employer": form.instance})


@role_required("crm.add_site")
def site_create(request: HttpRequest, employer_pk: int) -> HttpResponse:
    employer = get_object_or_404(Employer, pk=employer_pk)
    form = SiteForm(request.POST or None, instance=Site(employer=employer))
    if request.method == "POST" and form.is_valid():
        site = _save(
            request, form, lambda: services.record_save(instance=form.instance, by=request.user)
        )
        if site is not None:
            return redirect("crm:employer_detail", pk=employer.pk)
    return render(request, "crm/site_form.html", {"form": form, "employer": employer})


@role_required("crm.change_site")
def site_update(request: HttpRequest, pk: int) -> HttpResponse:
    site = get_object_or_404(Site.objects.select_related("employer"), pk=pk)
    form = SiteForm(request.POST or None, instance=site)
    if request.method == "POST" and form.is_valid():
        saved = _save(
            request, form, lambda: services.record_save(instance=form.instance, by=request.user)
        )
        if saved is not None:
            return redirect("crm:employer_detail", pk=site.employer_id)
    return render(
        request, "crm/site_form.html", {"form": form, "employer": site.employer, "site": site}
    )
