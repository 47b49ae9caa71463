from django.contrib import admin
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from postbacks import chain


def conversion_explain(request):
    """The explain of any affiliate's conversion (`/admin/explain/?click_id=`, `?conversion_id=`
    or `?action_id=`): postbacks.chain, with the advertiser's side (revenue, the full query and
    address of each advertiser postback)."""
    context = {
        **admin.site.each_context(request),
        "title": "Explain a conversion",
        "query": {name: request.GET.get(name, "") for name in chain.LOOKUPS},
    }
    status = 200
    if request.GET:
        try:
            lookup = chain.lookup_from(request.GET)
        except ValidationError as exc:
            context["error"], status = " ".join(exc.messages), 400
        else:
            found = chain.conversion_chain(lookup)
            context |= {"lookup": lookup, "chain": found}
            status = 200 if found else 404
    return TemplateResponse(request, "admin/manager/explain.html", context, status=status)
