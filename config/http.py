"""Django's request classes, with one fix: a request Django would fail to build is built; and how
a header is named in a request's META."""

import contextlib

from django.core.exceptions import TooManyFieldsSent
from django.core.handlers.asgi import ASGIRequest
from django.core.handlers.wsgi import WSGIRequest


class _EncodingSetLazily:
    def _set_content_type_params(self, meta):
        """A `charset` in the Content-Type makes Django set the request's encoding, and that parses
        the query string at once, while the request is being built: with more than
        DATA_UPLOAD_MAX_NUMBER_FIELDS parameters it raises before any error handling exists, and any
        URL answers a 500. The encoding is set by then; reading the parameters raises again later,
        in the view, where it is an ordinary 400."""
        with contextlib.suppress(TooManyFieldsSent):
            super()._set_content_type_params(meta)


class Request(_EncodingSetLazily, WSGIRequest):
    pass


class AsgiRequest(_EncodingSetLazily, ASGIRequest):
    pass


def meta_key(header: str) -> str:
    """The key of request.META holding `header` ("X-Real-IP": "HTTP_X_REAL_IP"), as WSGI names it."""
    return "HTTP_" + header.upper().replace("-", "_")
