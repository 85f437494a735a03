"""Records of accountability (who viewed or exported whose record) and of erasures."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ContactAccess(models.Model):
    """One person's record read by one staff member: viewed, exported, exported for the person
    themselves, or erased. Written by crm.privacy.services, never edited."""

    class Action(models.TextChoices):
        VIEWED = "viewed", _("Viewed")
        EXPORTED = "exported", _("Exported")
        SUBJECT_EXPORT = "subject_export", _("Subject access export")
        ERASED = "erased", _("Erased")

    # No database constraint: the log must outlive a contact deleted in the admin, which is
    # exactly when someone will ask who had seen it.
    contact = models.ForeignKey(
        "crm.Contact",
        verbose_name=_("contact"),
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    # The page's path (never its query string: a search may hold a person's name) or the
    # export's name.
    source = models.CharField(_("page or export"), max_length=300, blank=True)
    # How many records the same access read: 1 for a page, the rows of an export.
    count = models.PositiveIntegerField(_("records in this access"), default=1)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("contact access")
        verbose_name_plural = _("contact accesses")
        indexes = [
            models.Index(fields=["contact", "-at"], name="crm_access_contact_at"),
            models.Index(fields=["user", "-at"], name="crm_access_user_at"),
            models.Index(fields=["-at"], name="crm_access_at"),
        ]

    def __str__(self) -> str:
        return f"#{self.contact_id} {self.action} {self.at:%Y-%m-%d %H:%M}"


class ContactErasure(models.Model):
    """The tombstone of an erased person: that it happened, when, by whom and why, and nothing
    that says who the person was."""

    contact_id = models.BigIntegerField(_("contact number"), unique=True)
    erased_at = models.DateTimeField(_("erased at"), default=timezone.now)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("erased by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        ordering = ["-erased_at", "-id"]
        verbose_name = _("contact erasure")
        verbose_name_plural = _("contact erasures")
        permissions = [("erase_contact", _("Can erase a person and export their data"))]

    def __str__(self) -> str:
        return f"#{self.contact_id} {self.erased_at:%Y-%m-%d}"


class ErasureReview(models.Model):
    """A consultation whose notes mentioned an erased person. The name itself was replaced, but
    the notes may still point at them (a role, a plant, a quote): someone must read them."""

    erasure = models.ForeignKey(
        ContactErasure,
        verbose_name=_("erasure"),
        on_delete=models.CASCADE,
        related_name="reviews",
    )
    consultation = models.ForeignKey(
        "outreach.Consultation",
        verbose_name=_("consultation"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    fields = models.JSONField(_("fields changed"), default=list)
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["reviewed_at", "-id"]
        verbose_name = _("consultation to review after an erasure")
        verbose_name_plural = _("consultations to review after erasures")
        constraints = [
            models.UniqueConstraint(
                fields=["erasure", "consultation"], name="crm_erasurereview_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.consultation_id} / {self.erasure}"
