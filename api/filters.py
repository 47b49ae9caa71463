"""List filters read from the query string by a Django form, so that an API list and the portal page
showing the same rows validate their filters with the same form and the same messages."""

from django import forms
from rest_framework.filters import BaseFilterBackend

from api.errors import cleaned_data
from config.filters import DateRangeForm
from offers.forms import public_id_field


class NetworkFilterForm(DateRangeForm):
    """A manager's filters over the whole network: period, offer (public id) and affiliate (pid)."""

    offer = public_id_field("Offer ID")
    affiliate = public_id_field("pid")


class FormFilterBackend(BaseFilterBackend):
    """For list views naming `filter_form_class` and `filter_selector(queryset, cleaned_data)`.

    Invalid values answer 400 with the form's errors per field. Detail views are not filtered:
    a conversion is found by its id whatever the query string says.
    """

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) != "list":
            return queryset
        return view.filter_selector(queryset, cleaned_data(view.filter_form_class(request.query_params)))

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": str(field.help_text or field.label or name),
                "schema": _schema(field),
            }
            for name, field in view.filter_form_class.base_fields.items()
        ]


def _schema(field) -> dict:
    if isinstance(field, forms.DateField):
        return {"type": "string", "format": "date"}
    if isinstance(field, forms.IntegerField):
        return {"type": "integer"}
    if isinstance(field, forms.TypedChoiceField) and field.coerce is int:
        return {"type": "integer", "enum": [value for value, _ in field.choices if value != ""]}
    if isinstance(field, forms.ChoiceField):
        return {"type": "string", "enum": [value for value, _ in field.choices if value != ""]}
    return {"type": "string"}
