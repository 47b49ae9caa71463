"""Choices that every layer shares, from offers (a goal's default status) up to the API."""

from django.db import models


class ConversionStatus(models.IntegerChoices):
    """Conversion statuses with their wire codes. Code 4 is unused on purpose."""

    APPROVED = 1, "Approved"
    PENDING = 2, "Pending"
    DECLINED = 3, "Declined"
    HOLD = 5, "Hold"


# Conversions that are or will be paid: all but the declined ones (hold is approved, paid when its
# hold period ends). The conversion rate counts the same ones.
PAYABLE_STATUSES = (ConversionStatus.APPROVED, ConversionStatus.PENDING, ConversionStatus.HOLD)
