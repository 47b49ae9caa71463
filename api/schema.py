"""The OpenAPI schema documents the error answers too, so that clients (and the schema-driven tests)
can rely on every status code the API sends being listed, with its body."""

from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

# Query parameters that never make a request invalid: a wrong page is a 404 and a wrong page size
# falls back to the default. (Even a search text can be refused: NUL characters are.)
LENIENT_QUERY_PARAMETERS = {"page", "page_size"}
BODY_METHODS = {"POST", "PUT", "PATCH"}
WRITE_METHODS = {*BODY_METHODS, "DELETE"}


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in words.")


VALIDATION_ERROR = ResolvedComponent(
    name="ValidationError",
    type=ResolvedComponent.SCHEMA,
    object="ValidationError",
    schema={
        "type": "object",
        "description": "The messages per field name (`non_field_errors` for the request as a whole); "
        "a nested field (a goal, a list item) has its own object or list of them.",
        "additionalProperties": {"anyOf": [{"type": "array", "items": {}}, {"type": "object"}]},
    },
)


class AutoSchema(openapi.AutoSchema):
    """Adds to each operation the errors it can answer (see api.errors): 400 where a body or
    query parameters are validated, 401 and 403 for keys, 404 where something is looked up (an
    object by its id, a page), 409 for writes that conflict (a race lost, or deleting rows others
    use), 415 for bodies in an unknown format and 429 when the key is throttled."""

    def _insert_field_validators(self, field, schema):
        """Drops the `uri` format of URL fields: destination, trafficback and postback URLs carry
        macros such as {clickid}, and Django accepts international domain names, so they are not
        RFC 3986 URIs."""
        super()._insert_field_validators(field, schema)
        if schema.get("format") == "uri":
            del schema["format"]
        elif "oneOf" in schema and schema["oneOf"][0].get("format") == "uri":
            # A field that may be blank is `oneOf: [the URL, ""]`: without the format, one string.
            url = schema.pop("oneOf")[0]
            del url["format"]
            schema.update(url)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in self._error_codes():
            if code not in responses:
                responses[code] = self._get_response_for_code(self._error_body(code), code)
                responses[code]["description"] = description
        return responses

    def _error_body(self, code):
        if code != "400":
            return ErrorSerializer
        self.registry.register_on_missing(VALIDATION_ERROR)
        error = self.resolve_serializer(ErrorSerializer, "response")
        return {"anyOf": [VALIDATION_ERROR.ref, error.ref]}

    def _error_codes(self):
        parameters = self._get_parameters()
        validated_query = any(
            parameter["in"] == "query" and parameter["name"] not in LENIENT_QUERY_PARAMETERS
            for parameter in parameters
        )
        looks_up = any(parameter["in"] == "path" for parameter in parameters) or (
            self._is_list_view() and self._get_paginator() is not None
        )
        if self.method in BODY_METHODS or validated_query:
            yield "400", "Invalid input: the messages per field, or `detail` for a malformed body."
        yield "401", "The API key is missing or wrong."
        yield "403", "This key may not use this endpoint."
        if looks_up:
            yield "404", "No such object (or not one of yours), or no such page."
        if self.method in WRITE_METHODS:
            yield "409", "The change conflicts with data saved at the same time, or with rows that use it."
        if self.method in BODY_METHODS and self.get_request_serializer() is not None:
            yield "415", "The body is in a format other than JSON, a form or multipart."
        yield "429", "Too many requests with this key: wait as Retry-After says."
