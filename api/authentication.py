from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from api.services import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`API-Key: <key>` or `Authorization: Bearer <key>`. A wrong key is a 401, never a silent anonymous."""

    def authenticate(self, request):
        raw_key = request.headers.get("API-Key", "").strip()
        if not raw_key:
            scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer":
                return None
            raw_key = credentials.strip()
        if not raw_key or len(raw_key) > 128:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        api_key = api_key_authenticate(raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        return api_key.user, api_key

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when the key is missing or wrong.
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "API-Key"}
