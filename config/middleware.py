from conversions.views import pixel, postback
from tracking.views import click

# Endpoints called by visitors' browsers and advertisers' servers at volume. They use no
# session, CSRF token, login or messages, so they are answered before that middleware runs.
FAST_PATHS = {"/click": click, "/postback": postback, "/pixel": pixel}


class TrackingFastPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = FAST_PATHS.get(request.path_info)
        if view is None:
            return self.get_response(request)
        return view(request)
