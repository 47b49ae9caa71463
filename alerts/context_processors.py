from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from alerts.selectors import notices_for
from offers.selectors import affiliate_of


def notices(request):
    """The affiliate's postback notices, for the layout. Read only when a page shows them (the
    portal's layout does; the admin's does not)."""
    user = getattr(request, "user", None)

    def read():
        affiliate = affiliate_of(user) if user is not None else None
        return notices_for(affiliate, now=timezone.now()) if affiliate is not None else []

    return {"alert_notices": SimpleLazyObject(read)}
