"""The click cookie: set by `/click` on the visitor's browser, read back by the advertiser's `/pixel`."""

COOKIE_NAME = "afclick"


def set_click_cookie(request, response, click_id: str, lifetime_days: int) -> None:
    """`afclick` for client-side pixels, for the offer's click lifetime. The pixel is loaded from
    the advertiser's site, a cross-site request, so over https the cookie is SameSite=None;
    browsers accept that only with Secure, so over plain http it falls back to Lax."""
    secure = request.is_secure()
    response.set_cookie(
        COOKIE_NAME,
        click_id,
        max_age=lifetime_days * 86400,
        secure=secure,
        httponly=True,
        samesite="None" if secure else "Lax",
    )
