from django import template

from manager.selectors import work

register = template.Library()


@register.inclusion_tag("admin/manager/_work_queue_link.html")
def work_queue_link():
    """The admin index's link to the work queue, with what waits there that is cheap to count:
    access requests and postbacks in trouble (small tables). Conversions and the inbound log,
    which grow with the traffic, are counted on the queue's own page only."""
    return {
        "access_requests": work.access_requests_waiting_count(),
        "postbacks": work.postbacks_in_trouble_count(),
    }
