from django.apps import AppConfig


class StatsConfig(AppConfig):
    name = "stats"
    verbose_name = "statistics"

    def ready(self):
        from conversions.events import conversion_listen
        from stats.services import stats_add_clicks, stats_add_conversion_events
        from tracking.store import click_listen

        # The counters change in the transaction that writes the clicks or the conversion event,
        # so they never disagree with the rows they count.
        click_listen(stats_add_clicks)
        conversion_listen(stats_add_conversion_events)
