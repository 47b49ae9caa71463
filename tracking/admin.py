from django.contrib import admin

from config.admin_base import TrafficRecordAdmin
from tracking.models import Click


@admin.register(Click)
class ClickAdmin(TrafficRecordAdmin):
    list_display = ["click_id", "created_at", "offer", "affiliate", "sub1", "ip"]
    list_filter = ["created_at", "is_test", "offer", "affiliate"]
    list_select_related = ["offer", "affiliate__user"]
    search_fields = ["=click_id"]
    search_help_text = "Exact click id (24 hex characters)."

    def get_search_results(self, request, queryset, search_term):
        # Click ids are stored in lowercase; visitors paste them as they come.
        return super().get_search_results(request, queryset, search_term.strip().lower())
