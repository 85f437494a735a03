"""Administrators' pages: the access log, a person's data, erasure and what it left to review.

The subject export and erasure are views of their own, so that a "sign in again first" check
can wrap exactly them.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from crm.access import role_required
from crm.forms import add_service_errors
from crm.models import Contact
from crm.paging import page_of, query_without_page
from crm.privacy import selectors, services
from crm.privacy.forms import AccessFilterForm, ErasureForm
from crm.privacy.models import ErasureReview
from crm.reauth import recent_auth_required


def _contact(pk: int) -> Contact:
    return get_object_or_404(Contact, pk=pk)


def _not_erased(contact: Contact) -> None:
    if selectors.contact_erasure(contact_id=contact.pk) is not None:
        raise Http404(_("This person was erased."))


@role_required("crm.view_contactaccess")
def access_log(request: HttpRequest) -> HttpResponse:
    form = AccessFilterForm(request.GET or None)
    context = {
        "form": form,
        "page": page_of(request, selectors.access_log(filters=form.filters())),
        "query": query_without_page(request),
    }
    return render(request, "crm/privacy/access_log.html", context)


@role_required("crm.erase_contact")
@recent_auth_required
def contact_subject_export(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything held about the person, as a JSON file to hand to them."""
    contact = _contact(pk)
    _not_erased(contact)
    data = services.contact_subject_export(contact=contact, by=request.user, source=request.path)
    response = HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    stamp = f"{timezone.localdate():%Y-%m-%d}"
    response["Content-Disposition"] = f'attachment; filename="contact-{contact.pk}-{stamp}.json"'
    return response


@role_required("crm.erase_contact")
@recent_auth_required
def contact_subject_report(request: HttpRequest, pk: int) -> HttpResponse:
    """The same, as a page to read or print."""
    contact = _contact(pk)
    _not_erased(contact)
    data = services.contact_subject_export(contact=contact, by=request.user, source=request.path)
    return render(request, "crm/privacy/subject_report.html", {"contact": contact, "data": data})


@role_required("crm.erase_contact")
@recent_auth_required
def contact_erase(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _contact(pk)
    _not_erased(contact)
    form = ErasureForm(request.POST or None, contact=contact)
    if request.method == "POST" and form.is_valid():
        try:
            services.contact_erase(
                contact=contact,
                by=request.user,
                reason=form.cleaned_data["reason"],
                confirmation=form.cleaned_data["confirmation"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("The person was erased."))
            return redirect("crm:contact_detail", pk=contact.pk)
    return render(request, "crm/privacy/erase.html", {"form": form, "contact": contact})


@role_required("crm.view_contacterasure")
def erasure_list(request: HttpRequest) -> HttpResponse:
    context = {
        "page": page_of(request, selectors.erasure_list()),
        "reviews": selectors.erasure_reviews_open(),
    }
    return render(request, "crm/privacy/erasure_list.html", context)


@role_required("crm.change_erasurereview")
@require_POST
def erasure_review_done(request: HttpRequest, pk: int) -> HttpResponse:
    review = get_object_or_404(ErasureReview, pk=pk)
    services.erasure_review_done(review=review, by=request.user)
    messages.success(request, _("Marked as reviewed."))
    return redirect("crm:erasure_list")
