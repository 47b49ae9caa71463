import os

from django.core.asgi import get_asgi_application

from config.http import AsgiRequest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_asgi_application()
application.request_class = AsgiRequest
