"""IP addresses as visitors and advertisers send them: read once, stored in one spelling."""

import ipaddress

from django.conf import settings

from config.http import meta_key


def ip_text(value: str) -> str | None:
    """`value` as an IP address in its standard spelling (`::1`, not `0::1`), or None when it is
    empty or not an address: a malformed address is dropped, never an error."""
    try:
        return str(ipaddress.ip_address(value.strip())) if value else None
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
        forwarded = request.META.get(meta_key(header), "")
        address = ip_text(forwarded.split(",")[-1]) if forwarded else None
        if address:
            return address
    return ip_text(request.META.get("REMOTE_ADDR", ""))
