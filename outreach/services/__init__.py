"""Writes of the outreach app. Views, tasks, commands and tests call these names."""

from outreach.services.comments import (
    public_comment_create_contact,
    public_comment_hide,
    public_comment_link_contact,
    public_comment_mark_spam,
    public_comment_publish,
    public_comment_review,
    public_comment_set_union,
    public_comment_submit,
)
from outreach.services.consultations import (
    FollowUpRequest,
    NewAttendee,
    consultation_create,
    consultation_delete,
    consultation_update,
)
from outreach.services.digests import digest_send, digests_dispatch_due, digests_schedule
from outreach.services.followups import (
    FollowUpRefusedError,
    consultation_followups_schedule,
    followup_cancel,
    followup_reschedule,
    followup_retry,
    followup_schedule,
    followup_send,
    followup_send_now,
    followups_dispatch_due,
)
from outreach.services.report_counts import report_counts_compact, report_counts_rebuild

__all__ = [
    "FollowUpRefusedError",
    "FollowUpRequest",
    "NewAttendee",
    "consultation_create",
    "consultation_delete",
    "consultation_followups_schedule",
    "consultation_update",
    "digest_send",
    "digests_dispatch_due",
    "digests_schedule",
    "followup_cancel",
    "followup_reschedule",
    "followup_retry",
    "followup_schedule",
    "followup_send",
    "followup_send_now",
    "followups_dispatch_due",
    "public_comment_create_contact",
    "public_comment_hide",
    "public_comment_link_contact",
    "public_comment_mark_spam",
    "public_comment_publish",
    "public_comment_review",
    "public_comment_set_union",
    "public_comment_submit",
    "report_counts_compact",
    "report_counts_rebuild",
]
