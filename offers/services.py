"""Writes to the network: advertisers, affiliates and their logins, offers with goals, access decisions.

The admin, the API and the portal all write through these functions, so that the same input is
refused with the same message wherever it comes from.
"""

import secrets
from collections.abc import Mapping

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from offers.models import Advertiser, Affiliate, Goal, GoalCountryPayout, Offer, OfferAccess, new_secure_code
from offers.payouts import COUNTRY_AMOUNTS, TERMS, country_payouts_problems


@transaction.atomic
def advertiser_create(
    *,
    name: str,
    secure_code: str | None = None,
    ip_allowlist: list[str] | None = None,
    refusals_answer_200: bool = False,
) -> Advertiser:
    """Create an advertiser: the admin and the API both come here. Without a `secure_code` it
    gets a generated one, since an advertiser with neither a code nor an IP allowlist takes
    conversions forged by anyone; "" creates it without one, on purpose."""
    advertiser = Advertiser(
        name=name,
        secure_code=new_secure_code() if secure_code is None else secure_code,
        ip_allowlist=ip_allowlist or [],
        refusals_answer_200=refusals_answer_200,
    )
    advertiser.full_clean()
    advertiser.save()
    return advertiser


def advertiser_update(
    *,
    advertiser: Advertiser,
    name: str | None = None,
    secure_code: str | None = None,
    ip_allowlist: list[str] | None = None,
    refusals_answer_200: bool | None = None,
) -> Advertiser:
    """Change an advertiser; what is None stays as it is ("" removes the secure code)."""
    changes = {
        "name": name,
        "secure_code": secure_code,
        "ip_allowlist": ip_allowlist,
        "refusals_answer_200": refusals_answer_200,
    }
    for field, value in changes.items():
        if value is not None:
            setattr(advertiser, field, value)
    advertiser.full_clean()
    advertiser.save()
    return advertiser


@transaction.atomic
def affiliate_create(
    *,
    username: str,
    email: str = "",
    password: str | None = None,
    pid: int | None = None,
    status: str = Affiliate.Status.ACTIVE,
    consider_global_postback: bool = False,
) -> Affiliate:
    """Create an affiliate with its portal login. Without a password the login cannot be used
    until one is set (for API-only partners, or a manager sending a reset)."""
    user = get_user_model()(username=username, email=email)
    user.set_password(password) if password else user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    affiliate = Affiliate(
        user=user, pid=pid, status=status, consider_global_postback=consider_global_postback
    )
    affiliate.full_clean(exclude=["pid", "user"] if pid is None else ["user"])
    affiliate.save()
    return affiliate


@transaction.atomic
def affiliate_update(
    *,
    affiliate: Affiliate,
    pid: int | None = None,
    status: str | None = None,
    consider_global_postback: bool | None = None,
    alert_emails: bool | None = None,
    user: AbstractBaseUser | None = None,
    username: str | None = None,
    email: str | None = None,
    password: str | None = None,
) -> Affiliate:
    """Change an affiliate and its portal login; what is None stays as it is. Only what changes is
    written, so that two pages changing different settings at once keep both.

    Blocking (`status="blocked"`) is how an affiliate is stopped: its links refuse clicks and its
    portal login and API keys are refused, while its clicks and conversions stay attributed to it.
    `consider_global_postback` also fires its global postbacks when an offer's local postbacks
    exist but none matched. `alert_emails` emails it when one of its postbacks starts failing,
    is disabled or recovers (alerts.services). `user` moves the account to another login;
    `username`, `email` and `password` change the login's own.
    """
    login = {"username": username, "email": email}
    if any(value is not None for value in [*login.values(), password]):
        for field, value in login.items():
            if value is not None:
                setattr(affiliate.user, field, value)
        if password is not None:
            affiliate.user.set_password(password)
        affiliate.user.full_clean(exclude=["password"])
        affiliate.user.save()
    changes = {
        "pid": pid,
        "status": status,
        "consider_global_postback": consider_global_postback,
        "alert_emails": alert_emails,
        "user": user,
    }
    changed = [field for field, value in changes.items() if value is not None]
    for field in changed:
        setattr(affiliate, field, changes[field])
    # Only what changes is checked: blocking an affiliate whose older data today's rules would
    # refuse still blocks it.
    unchanged = [field.name for field in Affiliate._meta.fields if field.name not in changed]
    affiliate.full_clean(exclude=unchanged, validate_constraints=bool(changed))
    affiliate.save(update_fields=changed)
    return affiliate


def new_signing_secret() -> str:
    """A signing secret made for an affiliate: 256 random bits as 64 hex characters."""
    return secrets.token_hex(32)


def affiliate_set_signing_secret(*, affiliate: Affiliate, secret: str | None = None) -> str:
    """Set the secret that signs `affiliate`'s postbacks (X-Postback-Signature) and answer it.

    None makes a new one (new_signing_secret); a text is the affiliate's own choice, such as the
    secret its tracker already holds (at most 128 characters); "" removes it, and postbacks are
    then sent unsigned.
    """
    affiliate.signing_secret = new_signing_secret() if secret is None else secret
    affiliate.full_clean(exclude=["user"])
    affiliate.save(update_fields=["signing_secret"])
    return affiliate.signing_secret


def goals_problem(values: list[str]) -> str | None:
    """Why goals with these values cannot be an offer's, or None when they can.

    An offer keeps at least one goal, since a conversion without a `goal` counts as its first;
    and advertisers send a goal's value in any case, so two values may not differ by case only.
    """
    if not values:
        return "An offer needs at least one goal."
    lowered = [value.lower() for value in values]
    if len(lowered) != len(set(lowered)):
        return "Goal values must be unique (case-insensitive)."
    return None


@transaction.atomic
def offer_save_with_goals(*, offer: Offer, goals: list[dict] | None) -> Offer:
    """Save an offer and, when `goals` is given, make its goals exactly those.

    Each item holds a goal's fields. One with an `id` changes that goal of the offer (the admin's
    rows, where a goal's value itself can change); any other is matched by value, case-insensitive
    (the API's), or is a new goal. The offer's other goals are deleted. Refused when goals_problem
    finds a problem with the goals.

    An item's `country_payouts`, when given, become the goal's payouts by country
    (goal_set_country_payouts); without it the goal keeps its own, which its terms must still fit
    (country_payouts_misfit).
    """
    if goals is not None and (problem := goals_problem([fields["value"] for fields in goals])):
        raise ValidationError({"goals": problem})
    offer.full_clean(exclude=["offer_id"] if offer.offer_id is None else None)
    offer.save()
    if goals is None:
        return offer
    existing = {goal.pk: goal for goal in offer.goals.all()}
    by_id = {fields["id"]: fields for fields in goals if fields.get("id") in existing}
    by_value = {goal.value.lower(): goal for pk, goal in existing.items() if pk not in by_id}
    kept = []
    # Goals named by id first: a row renamed from "a" to "b" frees "a" for another row.
    for fields in sorted(goals, key=lambda fields: fields.get("id") not in by_id):
        goal = existing[fields["id"]] if fields.get("id") in by_id else None
        goal = goal or by_value.get(fields["value"].lower()) or Goal(offer=offer)
        country_payouts = fields.get("country_payouts")
        for name, value in fields.items():
            if name not in ("id", "country_payouts"):
                setattr(goal, name, value)
        goal.full_clean()
        if country_payouts is None and (misfit := country_payouts_misfit(goal)):
            raise ValidationError({"goals": misfit})
        goal.save()
        if country_payouts is not None:
            goal_set_country_payouts(goal=goal, country_payouts=country_payouts)
        kept.append(goal.pk)
    offer.goals.exclude(pk__in=kept).delete()
    return offer


def country_payouts_misfit(goal: Goal, *, terms: Mapping | None = None) -> str | None:
    """Why `goal`'s stored payouts by country do not fit `terms` (offers.payouts.TERMS by name;
    by default the goal's as they are now, changed maybe but not saved yet), or None when they do:
    a goal whose payout turns from fixed to percent, say, would pay its countries a percent of 0.
    Those payouts are changed first, or together with the terms."""
    if goal.pk is None:
        return None
    rows = list(goal.country_payouts.values("country", *COUNTRY_AMOUNTS))
    terms = terms or {name: getattr(goal, name) for name in TERMS}
    misfits = [
        f"{row['country']}: {' '.join(problems.values())}"
        for row, problems in zip(rows, country_payouts_problems(terms, rows), strict=True)
        if problems
    ]
    if not misfits:
        return None
    return (
        f"Goal {goal.value!r} pays by country in amounts its new terms cannot take ({'; '.join(misfits)}). "
        "Change or remove its payouts by country first, or together with its terms."
    )


@transaction.atomic
def goal_set_country_payouts(*, goal: Goal, country_payouts: list[dict]) -> Goal:
    """Make `goal`'s payouts by country exactly `country_payouts`: each item a country's ISO code
    (`country`) and the amounts that take the place of the goal's for its visitors (`payout`,
    `payout_percent`, `revenue`, `revenue_percent`), under the goal's types and in its currency
    (offers.payouts). The goal's other countries' are deleted. Refused, as a whole, when a row
    does not fit the goal's terms or names a country twice (country_payouts_problems)."""
    terms = {name: getattr(goal, name) for name in TERMS}
    problems = country_payouts_problems(terms, country_payouts)
    if any(problems):
        messages = [
            f"{row.get('country')}: {message}"
            for row, found in zip(country_payouts, problems, strict=True)
            for message in found.values()
        ]
        raise ValidationError({"country_payouts": messages})
    existing = {row.country: row for row in goal.country_payouts.all()}
    kept = []
    for fields in country_payouts:
        row = existing.get(fields["country"]) or GoalCountryPayout(goal=goal)
        for name in ["country", *COUNTRY_AMOUNTS]:
            setattr(row, name, fields[name])
        row.full_clean()
        row.save()
        kept.append(row.pk)
    goal.country_payouts.exclude(pk__in=kept).delete()
    return goal


def offer_access_request(*, affiliate: Affiliate, offer: Offer) -> OfferAccess:
    """An affiliate asks to run a private offer. Asking again after a rejection re-opens the request."""
    if not offer.is_private:
        raise ValidationError("This offer is public: no access request is needed.")
    if not offer.is_active:
        raise ValidationError("This offer is paused.")
    access, created = OfferAccess.objects.get_or_create(affiliate=affiliate, offer=offer)
    if not created and access.status == OfferAccess.Status.REJECTED:
        access.status = OfferAccess.Status.PENDING
        access.decided_at = None
        access.decided_by = None
        access.save(update_fields=["status", "decided_at", "decided_by"])
    return access


def offer_access_decide(*, access: OfferAccess, status: str, decided_by) -> OfferAccess:
    """Set an access entry's status; a decision records who made it and when."""
    decided = status != OfferAccess.Status.PENDING
    access.status = status
    access.decided_at = timezone.now() if decided else None
    access.decided_by = decided_by if decided else None
    access.full_clean()
    access.save()
    return access
