from rest_framework import serializers

from tracking.models import ALL_SUB_FIELDS, CLICK_PARAMETERS, MORE_SUB_FIELDS, SUB_FIELDS, Click


class SubValueField(serializers.CharField):
    """One of sub1..sub30, read through the record's `sub_value()`: empty when not given, so that
    every record has the same keys."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value):
        return value.sub_value(self.field_name)


class AllSubValuesMixin:
    """Serializes sub9..sub30 right after sub8, which Meta.fields lists with sub1..sub7."""

    def get_fields(self):
        fields = {}
        for name, field in super().get_fields().items():
            fields[name] = field
            if name == SUB_FIELDS[-1]:
                fields |= {more: SubValueField() for more in MORE_SUB_FIELDS}
        return fields


class ManagerClickSerializer(AllSubValuesMixin, serializers.ModelSerializer):
    id = serializers.CharField(source="click_id", read_only=True)
    offer = serializers.IntegerField(source="offer.offer_id", read_only=True)
    pid = serializers.IntegerField(source="affiliate.pid", read_only=True)

    class Meta:
        model = Click
        fields = [
            "id",
            "offer",
            "pid",
            # AllSubValuesMixin adds sub9..sub30 after these.
            *SUB_FIELDS,
            *(name for name in CLICK_PARAMETERS if name not in ALL_SUB_FIELDS),
            "ip",
            "user_agent",
            "referrer",
            "created_at",
        ]
        read_only_fields = fields
