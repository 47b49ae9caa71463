"""One translation of domain errors into API answers, so that no endpoint answers a 500 for bad input."""

from collections.abc import Iterable, Mapping

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


def validation_error(errors: Mapping[str, Iterable[str]]) -> exceptions.ValidationError:
    """Messages per field (a form's `errors`, a ValidationError's `message_dict`) as the API's 400:
    an object of messages per field, with those about the input as a whole under `non_field_errors`."""
    return exceptions.ValidationError(
        {
            ("non_field_errors" if field == NON_FIELD_ERRORS else field): list(messages)
            for field, messages in errors.items()
        }
    )


def cleaned_data(form: forms.Form) -> dict:
    """What a form of query parameters cleans; its errors answered as a 400 when it is invalid."""
    if not form.is_valid():
        raise validation_error(form.errors)
    return form.cleaned_data


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError) and _is_conflict(exc):
        # Refused for the state the data is in, not for the request (retrying a delivery that
        # succeeded): sending the same request again cannot help.
        return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        by_field = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
        exc = validation_error(by_field)
    if isinstance(exc, IntegrityError):
        # A uniqueness race the validation could not see: the other request won.
        return Response(
            {"detail": "This conflicts with data saved at the same time. Reload and try again."},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, list):
        # Raised without a field (DRF's search filter refusing a NUL, for one): the same shape as
        # every other validation error, an object of messages per field.
        exc = validation_error({NON_FIELD_ERRORS: exc.detail})
    return exception_handler(exc, context)


def _is_conflict(exc: DjangoValidationError) -> bool:
    """A refusal whose every message has the code "conflict", the code services give a refusal
    caused by the state of the data."""
    return not hasattr(exc, "error_dict") and all(error.code == "conflict" for error in exc.error_list)
