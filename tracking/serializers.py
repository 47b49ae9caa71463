from rest_framework import serializers

from tracking.models import CLICK_PARAMETERS, Click


class ManagerClickSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="click_id", read_only=True)
    offer = serializers.IntegerField(source="offer.offer_id", read_only=True)
    pid = serializers.IntegerField(source="affiliate.pid", read_only=True)

    class Meta:
        model = Click
        fields = ["id", "offer", "pid", *CLICK_PARAMETERS, "ip", "user_agent", "referrer", "created_at"]
        read_only_fields = fields
