"""Follow-up e-mails: an outbox of rows, dispatched by beat, each sent by one worker exactly once.

The life of a row: scheduled -> queued (dispatch, one task enqueued per row after commit) ->
sending (the task claims it with a conditional update, so only one worker can) -> sent.
A temporary SMTP failure puts it back to scheduled a little later (the retry is a row, not a
broker ETA); past the attempt limit it is failed. A row left in sending by a worker that died
after handing the message to SMTP becomes unknown: never sent again without a person deciding.
A row left in queued (the task was lost with a broker or a worker) is enqueued again.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time as time_module
import uuid
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid, sanitize_address
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import formats, timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from crm.models import Contact
from crm.services import save_validated
from crm.timezones import DATE_OUT_OF_RANGE, default_timezone, shown_on_every_clock
from outreach.merge import render
from outreach.models import Consultation, EmailTemplate, EmailTemplateVersion, FollowUp
from outreach.unsubscribe import unsubscribe_url

logger = logging.getLogger(__name__)
Status = FollowUp.Status
FALLBACK_LANGUAGE = "en"
DISPATCH_BATCH = 500


class FollowUpRefusedError(ValidationError):
    """The follow-up cannot be scheduled for this person (no e-mail, opted out, do not contact)."""


def followup_refusal(contact: Contact) -> str | None:
    """Why this person cannot be e-mailed, or None."""
    if not contact.email:
        return _("%(name)s has no e-mail address.") % {"name": contact.full_name}
    if contact.do_not_contact:
        return _("%(name)s is marked do not contact.") % {"name": contact.full_name}
    if contact.email_consent == "withdrawn":
        return _("%(name)s has withdrawn consent to e-mails.") % {"name": contact.full_name}
    return None


def contact_zone(contact: Contact, *, fallback: str | None = None) -> ZoneInfo | None:
    """The person's own time zone: chosen, else their country's, else `fallback`."""
    name = (
        contact.timezone
        or (default_timezone(str(contact.country)) if contact.country else None)
        or fallback
    )
    return ZoneInfo(name) if name else None


def local_to_utc(day: date, time_of_day: time, zone: ZoneInfo) -> datetime:
    """`day` at `time_of_day` on the wall clock of `zone`, as an aware UTC datetime.

    A time skipped by a daylight-saving change does not exist there and is refused; a time that
    happens twice (clocks going back) is taken at its first occurrence.
    """
    wall = datetime.combine(day, time_of_day).replace(tzinfo=zone, fold=0)
    try:
        instant = wall.astimezone(ZoneInfo("UTC"))
    except OverflowError:
        instant = None
    # Staff elsewhere read the time on their own clocks.
    if instant is None or not shown_on_every_clock(instant):
        raise ValidationError(DATE_OUT_OF_RANGE, code="out_of_range")
    if instant.astimezone(zone).replace(tzinfo=None) != wall.replace(tzinfo=None):
        raise ValidationError(
            _("%(time)s does not exist on %(day)s in %(zone)s (the clocks change then)."),
            params={
                "time": time_of_day.strftime("%H:%M"),
                "day": day.isoformat(),
                "zone": zone.key,
            },
            code="nonexistent_time",
        )
    return instant


def _message_id() -> str:
    return make_msgid(domain=settings.EMAIL_MESSAGE_ID_DOMAIN)


@transaction.atomic
def followup_schedule(
    *,
    contact: Contact,
    owner: Any,
    send_at: datetime,
    template: EmailTemplate | None = None,
    subject: str | None = None,
    body: str | None = None,
    consultation: Consultation | None = None,
    submission_key: uuid.UUID | None = None,
) -> FollowUp:
    """Schedule one e-mail to `contact` at `send_at` (aware; stored in UTC).

    The same `submission_key` twice gives back the first follow-up (a double click).
    """
    if submission_key is not None and (
        existing := FollowUp.objects.filter(submission_key=submission_key).first()
    ):
        return existing
    refusal = followup_refusal(contact)
    if refusal:
        raise FollowUpRefusedError(refusal, code="not_emailable")
    if timezone.is_naive(send_at):
        raise ValueError("send_at must be timezone-aware")
    if template is None and not (subject or "").strip():
        raise ValidationError({"subject": _("Choose a template or write a subject.")})
    if template is None and not (body or "").strip():
        raise ValidationError({"body": _("Write the text of the e-mail.")})
    if (
        template is not None
        and not template.versions.filter(language_id=FALLBACK_LANGUAGE).exists()
    ):
        raise ValidationError(
            {"template": _("This template has no English version to fall back on.")}
        )
    followup = FollowUp(
        contact=contact,
        owner=owner,
        consultation=consultation,
        template=template,
        subject=(subject or "").strip() if template is None else "",
        body=(body or "") if template is None else "",
        send_at=send_at,
        message_id=_message_id(),
        submission_key=submission_key,
    )
    save_validated(followup)
    return followup


@dataclass
class ScheduleReport:
    scheduled: list[FollowUp]
    skipped: list[tuple[Contact, str]]


def consultation_followups_schedule(
    *,
    consultation: Consultation,
    owner: Any,
    template: EmailTemplate,
    day: date,
    time_of_day: time,
    contacts: Iterable[Contact] | None = None,
) -> ScheduleReport:
    """One follow-up per person who attended, at `time_of_day` on `day` in *their* time zone.

    People who cannot be e-mailed are skipped and reported, not refused: the others still get it.
    """
    # Someone whose zone is unknown gets the consultation country's clock, if it has one clock;
    # otherwise they are skipped and named, rather than sent at a guessed hour.
    fallback = default_timezone(str(consultation.country)) if consultation.country else None
    report = ScheduleReport(scheduled=[], skipped=[])
    people = list(contacts) if contacts is not None else list(consultation.attendees.all())
    already = set(
        FollowUp.objects.filter(consultation=consultation, template=template)
        .exclude(status=Status.CANCELLED)
        .values_list("contact_id", flat=True)
    )
    for contact in people:
        refusal = followup_refusal(contact)
        zone = contact_zone(contact, fallback=fallback)
        if contact.pk in already:
            report.skipped.append((contact, _("already has this follow-up")))
            continue
        if refusal or zone is None:
            report.skipped.append((contact, refusal or _("their time zone is not known")))
            continue
        try:
            send_at = local_to_utc(day, time_of_day, zone)
        except ValidationError as error:
            report.skipped.append((contact, " ".join(error.messages)))
            continue
        report.scheduled.append(
            followup_schedule(
                contact=contact,
                owner=owner,
                send_at=send_at,
                template=template,
                consultation=consultation,
            )
        )
    return report


def followups_dispatch_due(*, now: datetime | None = None) -> int:
    """Queue every scheduled follow-up that is due and enqueue one send task per row."""
    from outreach.tasks import followup_send as send_task

    return outbox_dispatch_due(model=FollowUp, task=send_task, now=now)


def outbox_dispatch_due(*, model: Any, task: Any, now: datetime | None = None) -> int:
    """Queue every scheduled row of an outbox `model` that is due; one `task` per row.

    Rows are claimed with SELECT … FOR UPDATE SKIP LOCKED, so that two dispatchers running at
    once (a second beat by mistake, an operator's manual sweep) never queue the same row twice.
    """
    now = now or timezone.now()
    _recover_stale(model, task, now)
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                model.objects.select_for_update(skip_locked=True)
                .filter(status=Status.SCHEDULED, send_at__lte=now)
                .order_by("send_at", "id")
                .values_list("pk", flat=True)[:DISPATCH_BATCH]
            )
            if not ids:
                break
            model.objects.filter(pk__in=ids).update(status=Status.QUEUED, queued_at=now)
            transaction.on_commit(lambda ids=ids: _enqueue(task, ids), robust=True)  # type: ignore[misc]
        total += len(ids)
    return total


def _enqueue(task: Any, ids: list[int]) -> None:
    for pk in ids:
        task.delay(pk)


def _recover_stale(model: Any, task: Any, now: datetime) -> None:
    """Rows whose task or worker was lost: queued ones go again, sending ones need review."""
    sending_cutoff = now - timedelta(seconds=settings.FOLLOWUP_SENDING_TIMEOUT)
    model.objects.filter(status=Status.SENDING, sending_at__lt=sending_cutoff).update(
        status=Status.UNKNOWN,
        last_error=_(
            "The worker stopped while sending this e-mail, before recording the result: it may or "
            "may not have been delivered. Check before sending it again."
        ),
    )
    queued_cutoff = now - timedelta(seconds=settings.FOLLOWUP_REQUEUE_AFTER)
    with transaction.atomic():
        stale = list(
            model.objects.select_for_update(skip_locked=True)
            .filter(status=Status.QUEUED, queued_at__lt=queued_cutoff)
            .values_list("pk", flat=True)[:DISPATCH_BATCH]
        )
        if stale:
            logger.warning(
                "re-enqueuing %d %s rows whose task was lost", len(stale), model._meta.model_name
            )
            model.objects.filter(pk__in=stale).update(queued_at=now)
            transaction.on_commit(lambda: _enqueue(task, stale), robust=True)


def outbox_claim(*, model: Any, pk: int) -> bool:
    """Queued -> sending, by one conditional update: only one worker can win a row."""
    return bool(
        model.objects.filter(pk=pk, status=Status.QUEUED).update(
            status=Status.SENDING, sending_at=timezone.now(), attempts=F("attempts") + 1
        )
    )


def outbox_deliver(row: Any, message: EmailMultiAlternatives) -> str | None:
    """Hand `message` to SMTP for a claimed outbox row. None when it went; otherwise the row is
    updated (retry later, failed, or unknown) and that outcome is returned."""
    try:
        _deliver(message)
    except HandedOffError as error:
        # The mail server may have the message: sending it again could duplicate it.
        _smtp_connection_drop()
        _finish(row, Status.UNKNOWN, last_error=_handed_off_message(error))
        return "unknown"
    except Exception as error:
        _smtp_connection_drop()
        return _after_failure(row, error)
    return None


def followup_send(*, followup_id: int) -> str:
    """Send one queued follow-up. Returns what happened (for logs and tests).

    The row is claimed (queued -> sending) by a conditional update before SMTP is touched: a
    task delivered twice, or a row cancelled meanwhile, is a no-op.
    """
    now = timezone.now()
    if not outbox_claim(model=FollowUp, pk=followup_id):
        return "skipped"
    try:
        followup = FollowUp.objects.select_related(
            "contact", "consultation", "owner", "template"
        ).get(pk=followup_id)
    except DatabaseError:
        # Nothing went to the mail server: give the row back, and let the task retry.
        with suppress(DatabaseError):
            FollowUp.objects.filter(pk=followup_id, status=Status.SENDING).update(
                status=Status.QUEUED, queued_at=now, attempts=F("attempts") - 1
            )
        raise
    refusal = followup_refusal(followup.contact)
    if refusal:
        # Opted out (or marked do not contact) after scheduling: honoured at the last moment.
        _finish(followup, Status.SUPPRESSED, last_error=refusal)
        return "suppressed"
    try:
        email = followup_email(followup)
    except Exception as error:
        logger.exception("follow-up %s could not be composed", followup_id)
        _finish(
            followup, Status.FAILED, last_error=_("The e-mail could not be composed: %s") % error
        )
        return "failed"
    outcome = outbox_deliver(followup, email.message)
    if outcome is not None:
        return outcome
    FollowUp.objects.filter(pk=followup.pk, status__in=[Status.SENDING, Status.UNKNOWN]).update(
        status=Status.SENT,
        sent_at=timezone.now(),
        sent_language=email.language,
        sent_subject=email.subject[:250],
        sent_body=email.body,
        last_error="",
    )
    return "sent"


class HandedOffError(Exception):
    """The connection failed after the message body was handed to the mail server."""


def _handed_off_message(error: Exception) -> str:
    cause = error.__cause__ or error
    return _(
        "The connection to the mail server broke after the e-mail was handed over (%(error)s): it "
        "may or may not have been delivered. Check before sending it again."
    ) % {"error": f"{type(cause).__name__}: {cause}"[:300]}


def _deliver(message: EmailMultiAlternatives) -> None:
    """Send through the thread's SMTP connection, one SMTP step at a time.

    A failure before DATA means the server does not have the message: it may be retried. A
    refusal of the DATA command or of the message is an answer too. Anything else while the
    body is on its way (a dropped connection, a timeout) leaves it unknown: HandedOffError.
    """
    backend = _smtp_connection()
    smtp = getattr(backend, "connection", None)
    if not isinstance(smtp, smtplib.SMTP):
        message.connection = backend  # files or memory: no hand-off to be unsure about
        message.send(fail_silently=False)
        return
    encoding = message.encoding or settings.DEFAULT_CHARSET
    sender = sanitize_address(message.from_email, encoding)
    recipients = [sanitize_address(address, encoding) for address in message.recipients()]
    # Django's MIME classes take linesep, as its own SMTP backend does; the stubs do not say so.
    body = message.message().as_bytes(linesep="\r\n")  # type: ignore[call-arg]
    smtp.ehlo_or_helo_if_needed()
    code, reply = smtp.mail(sender)
    if code != 250:
        smtp.rset()
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused = {}
    for recipient in recipients:
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
    if len(refused) == len(recipients):
        smtp.rset()
        raise smtplib.SMTPRecipientsRefused(refused)
    try:
        code, reply = smtp.data(body)
    except smtplib.SMTPDataError:
        raise  # the server refused DATA before taking the message
    except (smtplib.SMTPException, OSError) as error:
        raise HandedOffError() from error
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


# One SMTP connection per worker thread, reused from one e-mail to the next: opening one costs
# several round trips to the relay. A NOOP checks it is still alive before each use, so that an
# e-mail is never handed to a connection the server already closed.
_smtp = threading.local()
SMTP_IDLE_SECONDS = 60


def _smtp_connection() -> Any:
    key = (
        settings.EMAIL_BACKEND,
        settings.EMAIL_HOST,
        settings.EMAIL_PORT,
        settings.EMAIL_HOST_USER,
    )
    connection = getattr(_smtp, "connection", None)
    fresh_enough = time_module.monotonic() - getattr(_smtp, "used", 0.0) < SMTP_IDLE_SECONDS
    if (
        connection is not None
        and getattr(_smtp, "key", None) == key
        and fresh_enough
        and _alive(connection)
    ):
        _smtp.used = time_module.monotonic()
        return connection
    _smtp_connection_drop()
    connection = get_connection()
    connection.open()
    _smtp.connection, _smtp.key, _smtp.used = connection, key, time_module.monotonic()
    return connection


def _alive(connection: Any) -> bool:
    smtp = getattr(connection, "connection", None)
    if smtp is None:
        # Backends without a socket (files, memory in tests) are always ready.
        return not hasattr(connection, "host")
    try:
        return smtp.noop()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False


def _smtp_connection_drop() -> None:
    connection = getattr(_smtp, "connection", None)
    _smtp.connection = None
    if connection is not None:
        with suppress(Exception):
            connection.close()


def _finish(row: Any, status: str, *, last_error: str = "") -> None:
    type(row).objects.filter(pk=row.pk, status=Status.SENDING).update(
        status=status, last_error=last_error
    )


def _is_permanent(error: Exception) -> bool:
    """5xx answers mean the mail server will never take this message; the rest may pass later."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _message in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500
    return False


def _after_failure(row: Any, error: Exception) -> str:
    description = f"{type(error).__name__}: {error}"[:1000]
    if _is_permanent(error):
        _finish(row, Status.FAILED, last_error=description)
        return "failed"
    if not isinstance(error, smtplib.SMTPException | OSError):
        logger.exception("%s %s: unexpected error while sending", row._meta.model_name, row.pk)
    if row.attempts >= settings.FOLLOWUP_MAX_ATTEMPTS:
        _finish(row, Status.FAILED, last_error=description)
        return "failed"
    delay = settings.FOLLOWUP_RETRY_BASE_SECONDS * 2 ** (row.attempts - 1)
    type(row).objects.filter(pk=row.pk, status=Status.SENDING).update(
        status=Status.SCHEDULED,
        send_at=timezone.now() + timedelta(seconds=delay),
        last_error=description,
    )
    return "retry"


@dataclass
class ComposedEmail:
    message: EmailMultiAlternatives
    language: str
    subject: str
    body: str
    fell_back: bool


def template_version(
    template: EmailTemplate, contact: Contact
) -> tuple[EmailTemplateVersion | None, bool]:
    """The version in the person's preferred language, else English, else any; and whether it fell
    back from the preferred language."""
    versions = {version.language_id: version for version in template.versions.all()}
    preferred = contact.preferred_language_id
    if preferred and preferred in versions:
        return versions[preferred], False
    chosen = versions.get(FALLBACK_LANGUAGE) or next(iter(versions.values()), None)
    return chosen, bool(preferred) and preferred != getattr(chosen, "language_id", None)


def merge_values(followup: FollowUp, language: str) -> dict[str, str]:
    contact = followup.contact
    consultation_zone = (
        default_timezone(str(followup.consultation.country))
        if followup.consultation and followup.consultation.country
        else None
    )
    zone = contact_zone(contact, fallback=consultation_zone) or ZoneInfo("UTC")
    union = (
        next(
            (
                m.union.short_name
                for m in contact.memberships.select_related("union")
                if m.is_current
            ),
            "",
        )
        if contact.pk
        else getattr(contact, "sample_union", "")
    )
    consultation = followup.consultation
    with translation.override(language):
        consultation_date = (
            formats.date_format(consultation.starts_at.astimezone(zone), "DATE_FORMAT")
            if consultation
            else ""
        )
    owner = followup.owner
    return {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "full_name": contact.full_name,
        "union": union,
        "consultation_title": consultation.title if consultation else "",
        "consultation_date": consultation_date,
        "sender_name": owner.get_full_name() or owner.get_username(),
        "unsubscribe_url": unsubscribe_url(contact) if contact.pk else f"{settings.SITE_URL}/u/…/",
    }


def followup_email(followup: FollowUp) -> ComposedEmail:
    """The e-mail for a follow-up, in the person's language, with its unsubscribe headers."""
    contact = followup.contact
    fell_back = False
    html = ""
    if followup.template_id:
        version, fell_back = template_version(followup.template, contact)  # type: ignore[arg-type]
        if version is None:
            raise ValueError(_("The template has no version in any language."))
        language, subject, text, html = (
            version.language_id,
            version.subject,
            version.body_text,
            version.body_html,
        )
    else:
        language = contact.preferred_language_id or FALLBACK_LANGUAGE
        subject, text = followup.subject, followup.body
    values = merge_values(followup, language)
    link = values["unsubscribe_url"]
    with translation.override(language):
        footer = _("To stop receiving e-mails from us: %(link)s") % {"link": link}
    subject = " ".join(render(subject, values).split())
    body = f"{render(text, values).rstrip()}\n\n--\n{footer}\n"
    headers = {
        "Message-ID": followup.message_id,
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    reply_to = [followup.owner.email] if followup.owner.email else None
    message = EmailMultiAlternatives(
        subject=subject, body=body, to=[contact.email], headers=headers, reply_to=reply_to
    )
    if html:
        html_footer = f'<hr><p><a href="{escape(link)}">{escape(footer)}</a></p>'
        message.attach_alternative(render(html, values, html=True) + html_footer, "text/html")
    return ComposedEmail(
        message=message, language=language, subject=subject, body=body, fell_back=fell_back
    )


# Actions staff take on their follow-ups.


def _transition(followup: FollowUp, *, allowed: list[str], **changes: Any) -> FollowUp:
    """Apply `changes` only if the row is still in one of the `allowed` statuses.

    The check and the change are one conditional UPDATE: a worker claiming the row at the same
    moment cannot be overtaken by a staff member's click, nor the other way round.
    """
    changed = FollowUp.objects.filter(pk=followup.pk, status__in=allowed).update(**changes)
    followup.refresh_from_db()
    if not changed:
        raise ValidationError(
            _("This follow-up is %(status)s: it cannot be changed now.")
            % {"status": followup.get_status_display()}
        )
    return followup


@transaction.atomic
def followup_cancel(*, followup: FollowUp, by: Any) -> FollowUp:
    return _transition(
        followup, allowed=[Status.SCHEDULED, Status.FAILED, Status.UNKNOWN], status=Status.CANCELLED
    )


@transaction.atomic
def followup_reschedule(*, followup: FollowUp, send_at: datetime, by: Any) -> FollowUp:
    return _transition(
        followup,
        allowed=[Status.SCHEDULED, Status.FAILED],
        status=Status.SCHEDULED,
        send_at=send_at,
        attempts=0,
    )


@transaction.atomic
def followup_send_now(*, followup: FollowUp, by: Any) -> FollowUp:
    """Queue it at once instead of waiting for its time (or for the next sweep)."""
    now = timezone.now()
    _transition(
        followup, allowed=[Status.SCHEDULED], status=Status.QUEUED, queued_at=now, send_at=now
    )
    from outreach.tasks import followup_send as send_task

    transaction.on_commit(lambda: _enqueue(send_task, [followup.pk]), robust=True)
    return followup


@transaction.atomic
def followup_retry(*, followup: FollowUp, by: Any) -> FollowUp:
    """Try a failed follow-up again, or one needing review after someone checked it was not sent."""
    return _transition(
        followup,
        allowed=[Status.FAILED, Status.UNKNOWN],
        status=Status.SCHEDULED,
        send_at=timezone.now(),
        attempts=0,
    )


def template_preview(*, version: EmailTemplateVersion, owner: Any) -> ComposedEmail:
    """A template version as a fictional person would receive it: nothing is saved or sent."""
    sample = Contact(
        first_name="Maria",
        last_name="Example",
        email="maria.example@example.org",
        timezone="Europe/Brussels",
        preferred_language_id=version.language_id,
    )
    sample.sample_union = "IndustriALL"  # type: ignore[attr-defined]
    consultation = Consultation(title=_("Site visit"), starts_at=timezone.now())
    followup = FollowUp(
        contact=sample,
        owner=owner,
        consultation=consultation,
        template=version.template,
        send_at=timezone.now(),
        message_id="<preview@localhost>",
    )
    return followup_email(followup)
