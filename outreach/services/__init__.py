"""Writes of the outreach app. Views, tasks, commands and tests call these names."""

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
]
