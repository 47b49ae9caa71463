import ipaddress

from django.conf import settings


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The visitor's IP address.

    Behind a proxy, CLIENT_IP_HEADER names the header it sets (X-Real-IP, or X-Forwarded-For,
    of which the last address is taken: the one our own proxy appended). Without that setting
    the header is ignored, since any client can send it.
    """
    header = settings.CLIENT_IP_HEADER
    if header:
        forwarded = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        address = _valid(forwarded.split(",")[-1]) if forwarded else None
        if address:
            return address
    return _valid(request.META.get("REMOTE_ADDR", ""))
