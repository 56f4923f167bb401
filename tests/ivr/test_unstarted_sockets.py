"""Sockets that have not sent their ``start`` yet are capped per process (``max_unstarted_sockets``).

Found in review: anyone can open ``/webhooks/ivr/media``, and a socket that sends no ``start`` is closed
only after 10 s (tests/ivr/test_stream_limits.py): a client opening thousands of them at once held as many
file descriptors, sessions and tasks of the process. Past the cap, the socket that has waited longest is
closed at once (close 1013, counted in ``kefu_calls_refused_total{reason="not_started_full"}``), so a flood
cannot turn away a trunk's call, which sends its token in its start right after connecting; a socket whose
handshake the carrier signed is not counted, and a carrier's burst of calls under normal load is not refused.
Real WebSocket streams against the real channel, as in tests/ivr/test_unvouched_places.py.
"""
from __future__ import annotations

import asyncio
import logging
import time

import pytest
import websockets

from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.ivr.simulator import PhoneCall
from tests.ivr.test_unvouched_places import (BUSY, answered, counted_since, hang_up, phone_settings,  # noqa: F401
                                             refusals, served_channel, vouched)

pytestmark = pytest.mark.realtime

PUBLIC = "https://kefu.example.cn"
AUTH_TOKEN = "twilio-auth-token-for-tests"


async def until(condition, timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_sockets_waiting_for_their_start_are_capped_and_the_one_waiting_longest_closed_at_once(
        phone_settings, redis, caplog):  # noqa: F811
    calls: list[PhoneCall] = []
    silent = []
    before = refusals()
    async with served_channel({"max_calls": 5, "max_unstarted_sockets": 2}, redis) as (channel, url):
        try:
            # calls that have started hold no such place
            calls.append(await answered(PhoneCall(url, caller="13900000001")))
            calls.append(await answered(PhoneCall(url, caller="13800000001", parameters=vouched(phone_settings))))
            silent = [await websockets.connect(url) for _ in range(2)]  # connected, no start: the cap
            await until(lambda: channel.unstarted.count == 2)
            opened = time.monotonic()
            with caplog.at_level(logging.WARNING, logger="bot.channels.ivr"):
                silent.append(await websockets.connect(url))
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(silent[0].recv(), 15)
            assert silent[0].close_code == BUSY and time.monotonic() - opened < 1.0  # not after the start's 10 s
            assert any("ivr.call.refused reason=not_started_full" in r.getMessage() for r in caplog.records)
            assert counted_since(before) == {"not_started_full": 1}
            assert channel.unstarted.count == 2 and [ws.close_code for ws in silent[1:]] == [None, None]
            assert all(call.closed_at is None for call in calls)
            # one of them goes: its place is free for a caller again, and no one is closed for it
            await silent.pop().close()
            await until(lambda: channel.unstarted.count == 1)
            calls.append(await answered(PhoneCall(url, caller="13800000002", parameters=vouched(phone_settings))))
            assert counted_since(before) == {"not_started_full": 1} and silent[1].close_code is None
        finally:
            for ws in silent:
                await ws.close()
            await hang_up(calls)


async def test_a_carriers_burst_of_calls_is_not_refused_under_normal_load(phone_settings, redis):  # noqa: F811
    """The default cap is twice max_calls: every call the process serves may connect at the same moment, and
    as many again (tests/ivr/test_unvouched_places.py has a vouched and an unvouched call connect together
    on a process of one place: the vouched one takes the place)."""
    calls: list[PhoneCall] = []
    before = refusals()
    async with served_channel({"max_calls": 6}, redis) as (channel, url):
        try:
            assert channel.unstarted.limit == 12
            calls = [PhoneCall(url, caller=f"1380000000{n}", parameters=vouched(phone_settings)) for n in range(6)]
            await asyncio.gather(*(call.__aenter__() for call in calls))
            await asyncio.gather(*(call.wait_media(30) for call in calls))
            assert all(call.closed_at is None for call in calls)
            assert counted_since(before) == {}
        finally:
            await hang_up(calls)


async def test_a_socket_the_carrier_signed_is_not_held_back_by_unsigned_ones(
        phone_settings, redis, monkeypatch):  # noqa: F811
    from bot import settings as settings_module
    from bot.contacts.status import signature

    monkeypatch.setenv("KEFU_PUBLIC_URL", PUBLIC)
    monkeypatch.setenv("KEFU_TELEPHONY_AUTH_TOKEN", AUTH_TOKEN)
    settings_module.get_settings.cache_clear()
    signed = {"X-Twilio-Signature": signature(AUTH_TOKEN, "wss://kefu.example.cn/webhooks/ivr/media", {})}
    calls: list[PhoneCall] = []
    silent = []
    async with served_channel({"max_calls": 5, "max_unstarted_sockets": 1}, redis) as (channel, url):
        try:
            silent = [await websockets.connect(url)]  # someone's socket that sends nothing fills the cap
            await until(lambda: channel.unstarted.count == 1)
            carriers = PhoneCall(url, caller="13800000001", headers=signed)
            calls.append(await answered(carriers))
            assert carriers.closed_at is None
            assert channel.unstarted.count == 1 and silent[0].close_code is None  # it took no one's place
        finally:
            for ws in silent:
                await ws.close()
            await hang_up(calls)


async def test_max_unstarted_sockets_is_checked_when_the_channel_is_built(phone_settings):  # noqa: F811
    from bot.channels import ChannelConfigError
    from bot.channels.ivr import IvrInput

    for bad in ({"max_unstarted_sockets": 0}, {"max_unstarted_sockets": "many"}):
        with pytest.raises(ChannelConfigError):
            IvrInput.from_credentials(bad)
    assert IvrInput.from_credentials({"max_calls": 8}).unstarted.limit == 16
    assert IvrInput.from_credentials({"max_calls": 8, "max_unstarted_sockets": 100}).unstarted.limit == 100



def server_holds(port: int, client_port: int) -> bool:
    """Whether this process (the served channel's) still has a socket of that connection open."""
    import psutil

    return any(c.laddr and c.raddr and c.laddr.port == port and c.raddr.port == client_port
               for c in psutil.Process().net_connections("tcp"))


async def test_a_socket_closed_to_make_room_is_let_go_at_once_though_its_client_never_answers_the_close(
        phone_settings, redis):  # noqa: F811
    """What the cap is for is what a socket holds: one closed to make room must not stay open while the server
    waits for the close of a client that never answers it (a flood's client does not)."""
    newer = None
    async with served_channel({"max_calls": 5, "max_unstarted_sockets": 1}, redis) as (channel, url):
        try:
            host, port = url.removeprefix("ws://").split("/")[0].split(":")
            reader, writer = await asyncio.open_connection(host, int(port))
            client_port = writer.get_extra_info("sockname")[1]
            writer.write(b"GET /webhooks/ivr/media HTTP/1.1\r\nHost: kefu\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         b"Sec-WebSocket-Version: 13\r\n\r\n")
            await writer.drain()
            received = b""
            while b"\r\n\r\n" not in received:
                received += await asyncio.wait_for(reader.read(4096), 5)  # the 101
            assert b" 101 " in received.split(b"\r\n")[0]
            await until(lambda: channel.unstarted.count == 1)
            newer = await websockets.connect(url)  # takes the raw socket's place
            while not received.split(b"\r\n\r\n", 1)[1]:
                received += await asyncio.wait_for(reader.read(4096), 5)  # the close frame
            frame = received.split(b"\r\n\r\n", 1)[1]
            assert frame[:1] == b"\x88" and frame[2:4] == (1013).to_bytes(2, "big"), frame  # a close, 1013
            refused_at = time.monotonic()
            while server_holds(int(port), client_port) and time.monotonic() - refused_at < 15:
                await asyncio.sleep(0.05)
            assert time.monotonic() - refused_at < 2.0, f"held for {time.monotonic() - refused_at:.1f} s"
            writer.close()
        finally:
            if newer is not None:
                await newer.close()


async def test_a_flood_of_sockets_that_send_nothing_does_not_turn_away_a_trunks_call(
        phone_settings, redis):  # noqa: F811
    """Found in review: a trunk's ``kefuTrunkToken`` is only read at the start, so while sockets that send
    nothing filled ``max_unstarted_sockets`` the trunk's calls were refused at connect (close 1013) as long
    as the flood lasted. A socket with no start now gives its place to a newer one: the trunk's call, which
    sends its start at once, is answered; the flood's oldest socket is closed instead."""
    calls: list[PhoneCall] = []
    flood: list = []
    async with served_channel({"max_calls": 5, "max_unstarted_sockets": 3}, redis) as (channel, url):
        try:
            flood = [await websockets.connect(url) for _ in range(3)]
            await until(lambda: channel.unstarted.count == 3)
            trunk = PhoneCall(url, caller="13800000001", parameters=vouched(phone_settings))
            calls.append(await answered(trunk))
            assert trunk.closed_at is None
            with pytest.raises(websockets.ConnectionClosed):  # the flood's oldest made room
                await asyncio.wait_for(flood[0].recv(), 5)
            assert flood[0].close_code == BUSY
            # the flood goes on: sockets that send nothing take one another's places, not the started call's
            flood += [await websockets.connect(url) for _ in range(6)]
            await until(lambda: channel.unstarted.count == 3)
            assert trunk.closed_at is None and channel.places.vouched == 1
            assert [ws.close_code for ws in flood[-3:]] == [None] * 3
        finally:
            for ws in flood:
                await ws.close()
            await hang_up(calls)


async def test_a_trunk_that_sends_its_token_at_connect_is_not_counted_with_the_sockets_that_send_nothing(
        phone_settings, redis):  # noqa: F811
    """A trunk that can send a header with the handshake (SignalWire's Twilio-format Streams take an
    ``AuthorizationBearerToken``) vouches for its socket there, as Twilio does by signing it: such a socket is
    not counted, so no flood, however fast, closes it before its start, and its call is the carrier's."""
    from bot.security.secrets import load_secrets

    bearer = {"Authorization": f"Bearer {load_secrets(phone_settings).ivr_trunk_token}"}
    calls: list[PhoneCall] = []
    silent = []
    async with served_channel({"max_calls": 5, "max_unstarted_sockets": 1}, redis) as (channel, url):
        try:
            silent = [await websockets.connect(url)]
            await until(lambda: channel.unstarted.count == 1)
            trunk = PhoneCall(url, caller="13800000001", headers=bearer)  # no kefuTrunkToken in its start
            calls.append(await answered(trunk))
            assert (channel.places.vouched, channel.places.unvouched) == (1, 0)
            assert channel.unstarted.count == 1 and silent[0].close_code is None  # it took no one's place
            guessed = PhoneCall(url, caller="13800000002", headers={"Authorization": "Bearer guessed"})
            calls.append(await answered(guessed))
            assert (channel.places.vouched, channel.places.unvouched) == (1, 1)  # a wrong token vouches for nothing
        finally:
            for ws in silent:
                await ws.close()
            await hang_up(calls)
