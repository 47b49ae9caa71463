from rest_framework import serializers

from conversions.lifecycle import conversion_set_status
from conversions.models import Conversion, ConversionEvent, ServerPostback
from offers.choices import ConversionStatus
from tracking.models import SUB_FIELDS
from tracking.serializers import AllSubValuesMixin


class ConversionSerializer(AllSubValuesMixin, serializers.ModelSerializer):
    """A conversion as its affiliate sees it: what the network pays, never what it earns."""

    id = serializers.CharField(source="conversion_id", read_only=True)
    click_id = serializers.CharField(source="kept_click_id", read_only=True, allow_null=True, default=None)
    offer = serializers.IntegerField(source="offer.offer_id", read_only=True)
    pid = serializers.IntegerField(source="affiliate.pid", read_only=True)
    goal = serializers.CharField(source="goal_value", read_only=True)
    status = serializers.ChoiceField(choices=ConversionStatus.choices, read_only=True)

    class Meta:
        model = Conversion
        fields = [
            "id",
            "click_id",
            "offer",
            "pid",
            "goal",
            "status",
            "decline_reason",
            "payout",
            "currency",
            "action_id",
            "integration_method",
            # AllSubValuesMixin adds sub9..sub30 after these.
            *SUB_FIELDS,
            "created_at",
            "updated_at",
            "is_test",
        ]
        read_only_fields = fields


class ManagerConversionSerializer(ConversionSerializer):
    """Everything an affiliate sees plus the advertiser's side. `status` is the one writable field:
    a change goes through conversion_set_status, which records who made it."""

    status = serializers.ChoiceField(choices=ConversionStatus.choices, help_text="1, 2, 3 or 5")

    class Meta(ConversionSerializer.Meta):
        fields = [*ConversionSerializer.Meta.fields, "revenue", "order_sum", "order_currency", "hold_until"]
        read_only_fields = [name for name in fields if name != "status"]

    def update(self, conversion, validated_data):
        conversion_set_status(
            conversion=conversion,
            status=validated_data["status"],
            source=ConversionEvent.Source.MANAGER,
            changed_by=self.context["request"].user,
        )
        conversion.refresh_from_db(fields=["status", "hold_until", "updated_at"])
        return conversion


class ServerPostbackSerializer(serializers.ModelSerializer):
    conversion = serializers.CharField(
        source="conversion.conversion_id", read_only=True, allow_null=True, default=None
    )
    # The offer the postback was for when it could be told, refused postbacks included.
    offer = serializers.IntegerField(source="offer.offer_id", read_only=True, allow_null=True, default=None)

    class Meta:
        model = ServerPostback
        fields = [
            "id",
            "received_at",
            "source",
            "method",
            "query",
            "ip",
            "outcome",
            "http_status",
            "message",
            "offer",
            "conversion",
        ]
