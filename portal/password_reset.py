"""Password resets: how often one may be asked for, and the email sent after the answer.

Django sends one email per request to the reset form, so without a limit anyone could fill a
user's mailbox by sending their address again and again. Two counters in the shared cache, each
running for an hour from its first request, both by the network the request comes from (its IPv4
address, or the /64 of its IPv6 address, which one host may hold whole):

- per email address and network: at most EMAILS_PER_ADDRESS emails. Past it the form answers as
  always (the same "check your email" page) and sends nothing, so the limit says nothing about
  whether the address has an account. It is counted for unknown addresses too, for the same
  reason. Counted by network too, so that someone who knows an address cannot use up its quota
  and lock its owner out of resetting: the owner, asking from their own network, has their own.
  A mailbox gets at most EMAILS_PER_ADDRESS an hour from each network that asks.
- per network: at most REQUESTS_PER_IP requests. Past it the form says so (429), which tells
  nothing about any email address either.

The email itself is sent by a Celery worker after the answer (`reset_email_send_later`), so the
time the form takes is the same whether the address has an account or not: the request only
counts and enqueues. The worker looks the address up and sends nothing for an unknown one.

Login failures are counted apart, by django-axes (LOGIN_FAILURE_LIMIT): the reset form checks no
password, so axes never sees it.
"""

import hashlib
import ipaddress
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.db import transaction
from django.utils import timezone

from config.counters import cache_count

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60 * 60
EMAILS_PER_ADDRESS = 3
# An office of affiliates behind one address can still each ask for their own reset.
REQUESTS_PER_IP = 20


def _network(ip: str | None) -> str:
    """The network a request comes from: an IPv4 address, or the /64 of an IPv6 one."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def reset_request_allowed_from(ip: str | None) -> bool:
    """Counts one reset request from `ip`'s network: False once the hour's REQUESTS_PER_IP are used."""
    return cache_count(f"password-reset:ip:{_network(ip)}", timeout=WINDOW_SECONDS) <= REQUESTS_PER_IP


def reset_email_allowed_to(email: str, *, ip: str | None) -> bool:
    """Counts one reset email to `email` asked from `ip`'s network: False once the hour's
    EMAILS_PER_ADDRESS are used.

    The address is counted as Django matches it to accounts (case-insensitively), and hashed so
    that the cache holds no email addresses."""
    asked = f"{email.strip().casefold()} {_network(ip)}"
    digest = hashlib.sha256(asked.encode()).hexdigest()
    return cache_count(f"password-reset:email:{digest}", timeout=WINDOW_SECONDS) <= EMAILS_PER_ADDRESS


def reset_email_send_later(*, email: str, domain: str, use_https: bool) -> None:
    """Have a worker send the reset email to the accounts of `email` once the request's
    transaction commits, with a link on `domain` (the host the user asked on). A broker that
    cannot be reached is logged, and the form answers as always: the user may ask again."""
    from portal.tasks import send_password_reset_email

    asked_at = timezone.now().isoformat()

    def enqueue():
        try:
            send_password_reset_email.apply_async(
                kwargs={"email": email, "domain": domain, "use_https": use_https, "asked_at": asked_at},
                retry=False,
            )
        except Exception:  # the broker is down
            logger.exception("Could not queue a password reset email")

    transaction.on_commit(enqueue)


def reset_email_send(*, email: str, domain: str, use_https: bool, asked_at: datetime) -> None:
    """Send each active account of `email` that has a usable password its reset link, as Django's
    reset form does; an address without one gets nothing."""
    form = PasswordResetForm({"email": email})
    if not form.is_valid():
        return
    form.save(
        domain_override=domain,
        use_https=use_https,
        extra_email_context={
            "asked_at": asked_at,
            "expires": asked_at + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT),
        },
    )
