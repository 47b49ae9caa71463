import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from api.services import api_key_issue
from tests.factories import AffiliateFactory, ManagerFactory
from tracking import lookups


def api_client_for(user) -> APIClient:
    client = APIClient()
    _, raw_key = api_key_issue(user=user)
    client.credentials(HTTP_API_KEY=raw_key)
    return client


@pytest.fixture(autouse=True)
def empty_cache():
    """Throttle counters and cached lookups must not leak from one test into the next."""
    cache.clear()
    lookups.clear()


@pytest.fixture
def affiliate(db):
    return AffiliateFactory()


@pytest.fixture
def other_affiliate(db):
    return AffiliateFactory()


@pytest.fixture
def manager(db):
    return ManagerFactory()


@pytest.fixture
def affiliate_api(affiliate):
    return api_client_for(affiliate.user)


@pytest.fixture
def manager_api(manager):
    return api_client_for(manager)


@pytest.fixture
def portal(client, affiliate):
    """A browser session logged into the portal as `affiliate`."""
    client.force_login(affiliate.user)
    return client
