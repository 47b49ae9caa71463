"""The alert state of each affiliate postback and each advertiser, kept by alerts.services.

A row remembers what was last decided (alerts.rules), since when, whether the portal still shows
its notice, and what the last email said and when, so that an affiliate gets at most one email
per postback per day and never the same news twice.
"""

from django.db import models

from alerts.rules import AdvertiserAlertState, PostbackAlertState
from offers.models import Advertiser
from postbacks.models import Postback


class PostbackAlert(models.Model):
    State = PostbackAlertState

    postback = models.OneToOneField(Postback, on_delete=models.CASCADE, related_name="alert")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OK)
    previous_state = models.CharField(max_length=10, choices=State.choices, default=State.OK)
    why = models.CharField(max_length=255, blank=True)
    since = models.DateTimeField()
    # The portal shows the notice of the latest change until its affiliate dismisses it; a
    # recovery's notice also ends a day after it (alerts.selectors.NOTICE_RECOVERED_FOR).
    notice_shown = models.BooleanField(default=False)
    # The news still to email: set by a change, cleared once sent or once there is nothing to
    # say (emails turned off, back to the state last emailed).
    email_due = models.BooleanField(default=False)
    emailed_state = models.CharField(max_length=10, choices=State.choices, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The evaluation reads the open alerts; the sender, the emails due.
            models.Index(fields=["state"], condition=~models.Q(state="ok"), name="postback_alert_open"),
            models.Index(
                fields=["email_due"], condition=models.Q(email_due=True), name="postback_alert_email_due"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=PostbackAlertState.values), name="postback_alert_state_valid"
            ),
        ]

    def __str__(self):
        return f"postback {self.postback_id} ({self.state})"


class AdvertiserAlert(models.Model):
    State = AdvertiserAlertState

    advertiser = models.OneToOneField(Advertiser, on_delete=models.CASCADE, related_name="alert")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OK)
    why = models.CharField(max_length=255, blank=True)
    since = models.DateTimeField()
    # The last hour as last measured.
    hits = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    measured_at = models.DateTimeField()
    # The managers' email (ALERT_MANAGER_EMAILS), as PostbackAlert's affiliate email.
    email_due = models.BooleanField(default=False)
    emailed_state = models.CharField(max_length=10, choices=State.choices, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=AdvertiserAlertState.values), name="advertiser_alert_state_valid"
            ),
        ]

    def __str__(self):
        return f"advertiser {self.advertiser_id} ({self.state})"
