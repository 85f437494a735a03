"""Public comments: the public form, its thank-you page and the published comments (no login),
and the staff's moderation queue.

Whatever turns a public post away (outreach/comment_guard.py), the person's text is never lost:
the form comes back filled in, saying what to do; only a post too large to read gets a page of
its own, which says to go back, where the browser still has the text.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.utils.translation import override as language_override
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from crm import selectors as crm_selectors
from crm.access import role_required
from crm.forms import add_service_errors
from crm.models import Contact
from crm.paging import page_of
from outreach import comment_selectors as selectors
from outreach.comment_forms import (
    CONSENT_QUESTION,
    HONEYPOT_FIELD,
    SHOWN_FIELD,
    UPDATES_QUESTION,
    CommentContactForm,
    CommentFilterForm,
    CommentUnionForm,
    ModerationForm,
    PublicCommentForm,
    active_language,
    form_token,
    form_token_read,
)
from outreach.comment_guard import Refusal, body_too_large, post_refusal
from outreach.models import PublicComment
from outreach.services import comments as services


def _form_page(
    request: HttpRequest, form: PublicCommentForm, refusal: Refusal | None = None
) -> HttpResponse:
    context = {
        "form": form,
        "refusal": refusal,
        "shown_token": form_token(language=active_language()),
        "shown_field": SHOWN_FIELD,
        "honeypot_field": HONEYPOT_FIELD,
    }
    response = render(
        request, "public/comment_form.html", context, status=refusal.status if refusal else 200
    )
    if refusal and refusal.retry_after:
        response["Retry-After"] = str(refusal.retry_after)
    return response


@csrf_protect
def _comment_form(request: HttpRequest) -> HttpResponse:
    form = PublicCommentForm(request.POST or None)
    if request.method != "POST":
        return _form_page(request, form)
    token = form_token_read(request.POST.get(SHOWN_FIELD, ""))
    refusal = post_refusal(request, token)
    if token is None or refusal is not None or not form.is_valid():
        return _form_page(request, form, refusal)
    # The questions in the language of the page the person read them on.
    with language_override(token.language):
        consent_question, updates_question = str(CONSENT_QUESTION), str(UPDATES_QUESTION)
    try:
        services.public_comment_submit(
            data=form.cleaned_data,
            consent_question=consent_question,
            updates_question=updates_question,
            spam=bool(request.POST.get(HONEYPOT_FIELD, "").strip()),
            submission_key=token.submission_key(form.cleaned_data["comment"]),
        )
    except ValidationError as error:
        add_service_errors(form, error)
        return _form_page(request, form)
    return redirect("voice:thanks")


# The size is checked before anything reads the body (the CSRF check reads it too), so the CSRF
# check is made by _comment_form.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def comment_submit(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and body_too_large(request):
        limit = number_format(settings.PUBLIC_COMMENT_MAX_LENGTH, force_grouping=True)
        return render(request, "public/comment_too_large.html", {"limit": limit}, status=413)
    return _comment_form(request)


@require_safe
def comment_thanks(request: HttpRequest) -> HttpResponse:
    return render(request, "public/comment_thanks.html")


@require_safe
def comment_published(request: HttpRequest) -> HttpResponse:
    page = selectors.published_comments_page(number=request.GET.get("page"))
    return render(request, "public/comment_list.html", {"page": page})


# Staff: the moderation queue


@role_required("outreach.view_publiccomment")
def comment_list(request: HttpRequest) -> HttpResponse:
    form = CommentFilterForm(request.GET or None)
    filters = form.filters()
    status_counts = selectors.public_comment_status_counts(filters=filters)
    query = request.GET.copy()
    query.pop("page", None)
    others = query.copy()
    others.pop("status", None)
    context = {
        "form": form,
        "page": page_of(request, selectors.public_comment_list(filters=filters)),
        "status_counts": status_counts,
        "all_count": sum(entry.count for entry in status_counts),
        "current_status": filters.status,
        "query": query.urlencode(),
        "other_filters": others.urlencode(),
    }
    return render(request, "outreach/comments/list.html", context)


@role_required("outreach.view_publiccomment")
def comment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        comment = selectors.public_comment_detail(pk=pk)
    except PublicComment.DoesNotExist:
        raise Http404 from None
    find = request.GET.get("find", "").strip()[:200]
    context = {
        "comment": comment,
        "moderation_form": ModerationForm(initial={"note": comment.moderation_note}),
        "union_form": CommentUnionForm(initial={"union": comment.union_id}),
        "find": find,
        "found": crm_selectors.contact_search(query=find, limit=10) if find else [],
        "same_email": selectors.contact_with_same_email(comment=comment),
    }
    return render(request, "outreach/comments/detail.html", context)


ACTIONS: dict[str, tuple[Callable[..., PublicComment], str | Promise]] = {
    "review": (services.public_comment_review, gettext_lazy("Marked as reviewed.")),
    "publish": (services.public_comment_publish, gettext_lazy("Published on the comments page.")),
    "hide": (services.public_comment_hide, gettext_lazy("Hidden.")),
    "spam": (services.public_comment_mark_spam, gettext_lazy("Marked as spam.")),
}


def _done(request: HttpRequest, comment: PublicComment, action: Callable[[], None]) -> HttpResponse:
    """Run a moderation step; its refusal (a ValidationError) is shown on the comment's page."""
    try:
        action()
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    return redirect(comment)


@role_required("outreach.moderate_publiccomment")
@require_POST
def comment_moderate(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    comment = get_object_or_404(PublicComment, pk=pk)
    if action not in ACTIONS:
        raise Http404
    service, done = ACTIONS[action]
    form = ModerationForm(request.POST)
    if not form.is_valid():
        for message in form.errors.get("note", []):
            messages.error(request, str(message))
        return redirect(comment)
    note = form.cleaned_data["note"]

    def run() -> None:
        service(comment=comment, by=request.user, note=note)
        messages.success(request, str(done))

    return _done(request, comment, run)


@role_required("outreach.moderate_publiccomment")
@require_POST
def comment_link_contact(request: HttpRequest, pk: int) -> HttpResponse:
    comment = get_object_or_404(PublicComment, pk=pk)
    form = CommentContactForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give the number of a contact."))
        return redirect(comment)
    number = form.cleaned_data["contact"]
    contact = Contact.objects.filter(pk=number).first() if number else None
    if number and contact is None:
        messages.error(request, _("There is no contact number %(number)s.") % {"number": number})
        return redirect(comment)

    def run() -> None:
        services.public_comment_link_contact(comment=comment, contact=contact, by=request.user)
        if contact is None:
            messages.success(request, _("No longer linked to a contact."))
        else:
            messages.success(request, _("Linked to %(name)s.") % {"name": contact.full_name})

    return _done(request, comment, run)


@role_required("outreach.moderate_publiccomment")
@require_POST
def comment_create_contact(request: HttpRequest, pk: int) -> HttpResponse:
    comment = get_object_or_404(PublicComment, pk=pk)

    def run() -> None:
        contact = services.public_comment_create_contact(comment=comment, by=request.user)
        messages.success(
            request, _("Contact %(name)s created and linked.") % {"name": contact.full_name}
        )

    return _done(request, comment, run)


@role_required("outreach.moderate_publiccomment")
@require_POST
def comment_set_union(request: HttpRequest, pk: int) -> HttpResponse:
    comment = get_object_or_404(PublicComment, pk=pk)
    form = CommentUnionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a union from the list."))
        return redirect(comment)
    union = form.cleaned_data["union"]

    def run() -> None:
        services.public_comment_set_union(comment=comment, union=union, by=request.user)
        messages.success(request, _("Union saved."))

    return _done(request, comment, run)
