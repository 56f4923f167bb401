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
