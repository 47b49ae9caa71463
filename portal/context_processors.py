from offers.selectors import affiliate_of


def affiliate(request):
    """The logged-in user's affiliate (or None), for the layout's navigation."""
    user = getattr(request, "user", None)
    return {"current_affiliate": affiliate_of(user) if user is not None else None}
