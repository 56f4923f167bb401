"""Loopback-only pages are not local when proxied (deployer's finding 7): with nginx on the same host
the peer is always 127.0.0.1, and the softphone's ring feed answered through the proxy.

Real Sanic requests (headers parsed and the proxy settings applied by Sanic itself) from a loopback
peer, as behind deploy/nginx.conf (SANIC_PROXIES_COUNT=1) and without proxy settings. No server is
started: Sanic rewrites its HTTP code each time an app starts, and a second start in one process
can fail on that."""
from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace

import pytest
from sanic import Sanic
from sanic.compat import Header
from sanic.request import Request

from bot.security.loopback import bearer_or_loopback, from_loopback

PROXIED = [
    {"X-Forwarded-For": "203.0.113.7"},  # what nginx sends for a client on the internet
    {"X-Forwarded-For": "127.0.0.1"},    # a client writing a local address: still proxied
    {"Forwarded": "for=203.0.113.7"},
    {"X-Real-IP": "203.0.113.7"},
    {"X-Forwarded-Proto": "https"},      # nginx's location / sets it, whatever the address
]
APP = Sanic(f"loopback_{uuid.uuid4().hex[:8]}")


def request(headers: dict, *, peer: str = "127.0.0.1", **config) -> Request:
    APP.config.update({"PROXIES_COUNT": None, "REAL_IP_HEADER": None, **config})
    made = Request(b"/ivr/phone/api/rings", Header(headers), "1.1", "GET", None, APP)
    made.conn_info = SimpleNamespace(client_ip=peer)  # what Sanic's protocol records for the socket
    return made


@pytest.mark.parametrize("proxies", [None, 1], ids=["no-proxy-settings", "proxies-count-1"])
@pytest.mark.parametrize("headers", PROXIED, ids=lambda h: next(iter(h)))
def test_a_proxied_request_is_never_local(headers, proxies):
    assert not from_loopback(request(headers, PROXIES_COUNT=proxies))


def test_a_proxys_own_client_header_counts_too():
    assert not from_loopback(request({"CF-Connecting-IP": "203.0.113.7"}, REAL_IP_HEADER="cf-connecting-ip"))


@pytest.mark.parametrize("proxies", [None, 1])
def test_a_direct_local_request_still_is_and_a_remote_one_is_not(proxies):
    assert from_loopback(request({}, PROXIES_COUNT=proxies))
    assert from_loopback(request({}, peer="::1", PROXIES_COUNT=proxies))
    assert not from_loopback(request({}, peer="192.0.2.10", PROXIES_COUNT=proxies))


@pytest.mark.parametrize("offered, allowed", [("Bearer s3cret-token", True), ("Bearer guess", False), (None, False)])
def test_with_a_token_set_only_its_bearer_gets_in_wherever_it_comes_from(offered, allowed):
    headers = {"X-Forwarded-For": "203.0.113.7", **({"Authorization": offered} if offered else {})}
    assert bearer_or_loopback(request(headers, PROXIES_COUNT=1), "s3cret-token") is allowed
    assert bearer_or_loopback(request({} if offered is None else {"Authorization": offered}), "s3cret-token") is allowed


def test_without_a_token_only_this_machine_gets_in():
    assert bearer_or_loopback(request({}), "")
    assert not bearer_or_loopback(request({"X-Forwarded-For": "203.0.113.7"}, PROXIES_COUNT=1), "")


@pytest.mark.parametrize("offered, status", [("Bearer rest-integration", None), ("Bearer guess", 401), ("", 401)])
def test_the_rest_webhook_answers_an_integration_with_its_token(monkeypatch, offered, status):
    from bot.channels.rest_guard import check_rest_body
    from bot.settings import get_settings

    monkeypatch.setenv("KEFU_REST_TOKEN", "rest-integration")
    get_settings.cache_clear()
    try:
        APP.config.update({"PROXIES_COUNT": 1, "REAL_IP_HEADER": None})
        made = Request(b"/webhooks/rest/webhook", Header({"X-Forwarded-For": "203.0.113.7", "Authorization": offered}),
                       "1.1", "POST", None, APP)
        made.conn_info = SimpleNamespace(client_ip="127.0.0.1")
        made.body = b'{"sender": "partner-1", "message": "\\u4f60\\u597d"}'
        answer = asyncio.run(check_rest_body(made))
    finally:
        get_settings.cache_clear()
    assert (answer and answer.status) == status


# A browser on this machine is no local tool: a page of another site reaches loopback too, by a
# cross-origin request (its ``Origin``) or by DNS rebinding (its own name, re-pointed at 127.0.0.1, in
# ``Host``: the page is then same-origin with Kefu and sends no ``Origin`` on a GET). Either read the
# ring feed (customers' numbers, a call's one-time token), /metrics, or ran REST turns as any sender.
BROWSER_PAGES = [
    {"Host": "127.0.0.1:5005", "Origin": "https://www.example.com"},  # a site's script, cross-origin
    {"Host": "127.0.0.1:5005", "Origin": "null"},                      # a sandboxed frame, a file
    {"Host": "rebind.attacker.example:5005"},                           # DNS rebinding, a GET
    {"Host": "rebind.attacker.example:5005", "Origin": "http://rebind.attacker.example:5005"},  # and a POST
]


@pytest.mark.parametrize("headers", BROWSER_PAGES, ids=["cross-origin", "null-origin", "rebound-get", "rebound-post"])
def test_a_page_in_a_browser_on_this_machine_is_not_local(headers):
    assert not from_loopback(request(headers))
    assert not bearer_or_loopback(request(headers), "")


@pytest.mark.parametrize("headers", [{}, {"Host": "127.0.0.1:5005"}, {"Host": "localhost:5005"}, {"Host": "[::1]:5005"},
                                     {"Host": "127.0.0.1:5005", "Origin": "http://127.0.0.1:5005"}],
                         ids=["no-host", "ip", "localhost", "ipv6", "own-page"])
def test_local_tools_and_kefus_own_pages_on_this_machine_still_are(headers):
    assert from_loopback(request(headers))


def test_a_token_of_bytes_that_are_not_utf_8_is_refused_not_a_crash(monkeypatch):
    """Found in review: Sanic keeps such header bytes as surrogates, and ``str.encode()`` raised on them,
    a 500 with a logged traceback for any client of /metrics, the REST webhook and the dispatch API."""
    from bot.channels.dispatch import authorised
    from bot.settings import get_settings

    offered = {"Authorization": b"Bearer \xff\xfe".decode("utf-8", "surrogateescape")}  # as Sanic parses it
    assert not bearer_or_loopback(request(offered), "s3cret-token")
    monkeypatch.setenv("KEFU_DISPATCH_TOKEN", "dispatch-token")
    get_settings.cache_clear()
    try:
        assert not authorised(request(offered))
    finally:
        get_settings.cache_clear()
