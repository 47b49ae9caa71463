"""How often a password reset may be asked for.

Django sends one email per request to the reset form, so without a limit anyone could fill a
user's mailbox by sending their address again and again. Two counters in the shared cache, each
running for an hour from its first request:

- per email address: at most EMAILS_PER_ADDRESS emails. Past it the form answers as always (the
  same "check your email" page) and sends nothing, so the limit says nothing about whether the
  address has an account. It is counted for unknown addresses too, for the same reason.
- per client IP address: at most REQUESTS_PER_IP requests. Past it the form says so (429), which
  tells nothing about any email address either.

Login failures are counted apart, by django-axes (LOGIN_FAILURE_LIMIT): the reset form checks no
password, so axes never sees it.
"""

import hashlib

from config.counters import cache_count

WINDOW_SECONDS = 60 * 60
EMAILS_PER_ADDRESS = 3
# An office of affiliates behind one address can still each ask for their own reset.
REQUESTS_PER_IP = 20


def reset_request_allowed_from(ip: str | None) -> bool:
    """Counts one reset request from `ip`: False once the hour's REQUESTS_PER_IP are used."""
    return cache_count(f"password-reset:ip:{ip}", timeout=WINDOW_SECONDS) <= REQUESTS_PER_IP


def reset_email_allowed_to(email: str) -> bool:
    """Counts one reset email to `email`: False once the hour's EMAILS_PER_ADDRESS are used.

    The address is counted as Django matches it to accounts (case-insensitively), and hashed so
    that the cache holds no email addresses."""
    digest = hashlib.sha256(email.strip().casefold().encode()).hexdigest()
    return cache_count(f"password-reset:email:{digest}", timeout=WINDOW_SECONDS) <= EMAILS_PER_ADDRESS
