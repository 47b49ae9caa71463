import os

from django.core.wsgi import get_wsgi_application

from config.http import Request

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()
application.request_class = Request
