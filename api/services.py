"""API keys: issued (to a new affiliate too), checked on every request, revoked."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from api.models import ApiKey
from offers.models import Affiliate
from offers.services import affiliate_create

# Writing last_used_at on every request would turn each API read into a write.
LAST_USED_PRECISION = timedelta(minutes=5)


def _digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def api_key_issue(*, user, name: str = "") -> tuple[ApiKey, str]:
    """Create a key for `user`. Returns the row and the key itself, which is never stored.

    Refused (ValidationError) when the user holds API_KEYS_PER_USER active keys already: each
    key has a rate limit of its own, so an unbounded number of keys would be an unbounded rate."""
    # The user's row is locked so that keys issued at the same moment are counted one by one.
    get_user_model().objects.select_for_update().get(pk=user.pk)
    if ApiKey.objects.filter(user=user, revoked_at__isnull=True).count() >= settings.API_KEYS_PER_USER:
        raise ValidationError(
            f"{user.get_username()} already holds {settings.API_KEYS_PER_USER} active API keys, "
            "the most one user may hold: revoke a key that is no longer used first."
        )
    raw_key = secrets.token_hex(20)
    api_key = ApiKey.objects.create(user=user, name=name, prefix=raw_key[:8], key_hash=_digest(raw_key))
    return api_key, raw_key


@transaction.atomic
def affiliate_create_with_api_key(
    *,
    username: str,
    email: str = "",
    password: str | None = None,
    pid: int | None = None,
    status: str = Affiliate.Status.ACTIVE,
    consider_global_postback: bool = False,
) -> tuple[Affiliate, str]:
    """Create an affiliate and its login (offers.services.affiliate_create) with an API key, for a
    partner that integrates through the API. Answers the affiliate and the key, to be shown once;
    neither is created without the other."""
    affiliate = affiliate_create(
        username=username,
        email=email,
        password=password,
        pid=pid,
        status=status,
        consider_global_postback=consider_global_postback,
    )
    _, raw_key = api_key_issue(user=affiliate.user, name="created by manager")
    return affiliate, raw_key


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The active key matching `raw_key`, or None."""
    api_key = (
        ApiKey.objects.select_related("user", "user__affiliate")
        .filter(key_hash=_digest(raw_key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key


def api_key_revoke(*, api_key: ApiKey) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
