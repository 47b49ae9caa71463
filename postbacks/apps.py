from django.apps import AppConfig


class PostbacksConfig(AppConfig):
    name = "postbacks"

    def ready(self):
        from conversions.events import conversion_listen
        from postbacks.services import deliveries_create_for_events

        # Deliveries are written in the transaction of the event that causes them.
        conversion_listen(deliveries_create_for_events)
