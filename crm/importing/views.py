"""The import pages: upload -> mapping -> preview -> confirm, progress, history, error file."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from crm.access import role_required
from crm.importing import selectors, services
from crm.importing.forms import MappingForm, UploadForm, field_label
from crm.importing.models import ImportJob, ImportKind
from crm.reauth import recent_auth_required

PERMISSION = "crm.import_contacts"


def _job(request: HttpRequest, pk: int) -> ImportJob:
    # Someone else's import is "not found", not "forbidden": its file name is personal data too.
    job = selectors.import_jobs_visible_to(request.user).filter(pk=pk).first()
    if job is None:
        raise Http404
    if not services.can_import(request.user, job.kind):
        raise PermissionDenied(job.kind)
    return job


@role_required(PERMISSION)
def import_list(request: HttpRequest) -> HttpResponse:
    jobs = selectors.import_jobs_visible_to(request.user)
    page = Paginator(jobs, settings.CRM_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "crm/imports/import_list.html", {"page": page})


# The size is told by the headers and checked before anything reads the body (the CSRF check
# would read all of it), so the CSRF check is made by _import_upload.
@csrf_exempt
@role_required(PERMISSION)
def import_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and _upload_too_large(request):
        messages.error(request, services.too_large_message())
        kinds = [kind for kind in ImportKind if services.can_import(request.user, kind)]
        form = UploadForm(kinds=kinds)
        return render(request, "crm/imports/import_create.html", {"form": form}, status=413)
    return _import_upload(request)


def _upload_too_large(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    # Room for the form's other fields; the file itself is measured again as it is stored.
    return length > settings.IMPORT_MAX_BYTES + 64 * 1024


@csrf_protect
def _import_upload(request: HttpRequest) -> HttpResponse:
    kinds = [kind for kind in ImportKind if services.can_import(request.user, kind)]
    # Bound on every POST: Django drops a file whose name has no printable character, and an
    # unbound form would come back without saying that no file arrived.
    posted = request.method == "POST"
    form = UploadForm(
        request.POST if posted else None, request.FILES if posted else None, kinds=kinds
    )
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = services.import_job_create(
                upload=upload.chunks(),
                file_name=upload.name,
                user=request.user,
                kind=form.cleaned_data["kind"],
            )
        except ValidationError as error:
            form.add_error("file", error)
        else:
            return redirect(job)
    return render(request, "crm/imports/import_create.html", {"form": form})


@role_required(PERMISSION)
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    context: dict[str, object] = {"job": job}
    if job.status in {ImportJob.Status.UPLOADED, ImportJob.Status.PREVIEWED}:
        form = MappingForm(
            headers=job.headers,
            mapping=job.mapping,
            kind=job.kind,
            initial={"consent_question": job.consent_question},
        )
        context.update(form=form, columns=_columns(form, job))
    if job.is_active:
        context["progress"] = _progress(job)
    context["mapped"] = [
        (job.headers[int(index)], field_label(name))
        for index, name in job.mapping.items()
        if int(index) < len(job.headers)
    ]
    return render(request, "crm/imports/import_detail.html", context)


@role_required(PERMISSION)
@require_POST
def import_map(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the mapping; the preview (a dry run) starts with it."""
    job = _job(request, pk)
    form = MappingForm(request.POST, headers=job.headers, mapping=job.mapping, kind=job.kind)
    if form.is_valid():
        try:
            services.import_job_map(
                job=job,
                fields=form.mapping(),
                create_unions=form.cleaned_data["create_unions"],
                consent_question=form.cleaned_data.get("consent_question", ""),
                save_as=form.cleaned_data["save_as"],
                user=request.user,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect(job)
    context = {"job": job, "form": form, "columns": _columns(form, job)}
    return render(request, "crm/imports/import_detail.html", context, status=400)


def _columns(form: MappingForm, job: ImportJob) -> list[tuple[object, list[str]]]:
    """Each column's choice beside its first values, so the organizer can tell what it holds."""
    sample = selectors.import_job_sample(job)
    return [
        (form[name], [row[index] for row in sample if index < len(row) and row[index]])
        for index, name in enumerate(form.columns)
    ]


@role_required(PERMISSION)
@require_POST
def import_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    try:
        services.import_job_start(job=job, dry_run=False)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect(job)


@role_required(PERMISSION)
@require_POST
def import_retry(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    try:
        services.import_job_start(job=job, dry_run=job.dry_run)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect(job)


@role_required(PERMISSION)
@require_POST
def import_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    try:
        services.import_job_cancel(job=job)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(job)
    messages.success(request, _("Import cancelled; its file was deleted."))
    return redirect("crm:import_list")


def _progress(job: ImportJob) -> dict[str, object]:
    done, beat = services.import_job_progress(job)
    total = max(job.total_rows, 1)
    return {
        "done": min(done, total),
        "total": job.total_rows,
        "percent": int(100 * min(done, total) / total),
        "quiet": beat is not None and time.time() - beat > settings.IMPORT_STALE_SECONDS / 2,
    }


@role_required(PERMISSION)
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar, polled by the page; once the job is over, the page reloads."""
    job = _job(request, pk)
    if job.status == ImportJob.Status.RUNNING:
        services.import_jobs_recover()
        job.refresh_from_db()
    if not job.is_active:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "crm/imports/progress.html", {"job": job, "progress": _progress(job)})


@role_required(PERMISSION)
@recent_auth_required
def import_errors(request: HttpRequest, pk: int) -> FileResponse:
    """The rejected rows with an `error` column, to fix and import again."""
    job = _job(request, pk)
    name = job.errors_file or (
        "preview-errors.csv" if job.status == ImportJob.Status.PREVIEWED else ""
    )
    path = job.folder / name if name else None
    if path is None or not path.is_file():
        raise Http404
    stem = job.file_name.rsplit(".", 1)[0] or "import"
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"{stem}-rejected.csv",
        content_type="text/csv; charset=utf-8",
    )
    response["Cache-Control"] = "no-store"
    return response
