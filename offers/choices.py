"""Choices that every layer shares, from offers (a goal's default status) up to the API."""

from django.db import models


class ConversionStatus(models.IntegerChoices):
    """Conversion statuses with their wire codes. Code 4 is unused on purpose."""

    APPROVED = 1, "Approved"
    PENDING = 2, "Pending"
    DECLINED = 3, "Declined"
    HOLD = 5, "Hold"
