"""A phone caller who asked for a person at a busy time and took the self-help guide by SMS instead of waiting was
handled by self-help, not an abandonment.

Found in review: at the peak offer (1, never queued) and on hold (3, out of the queue as ``caller_chose_notify`` once
the text is sent) the analytics counted the caller as abandoned, so the abandonment rate rose exactly when the
offer did its job, and the wallboard and report showed no deflection at all. A guide not sent (the gateway down, or a
caller whose line is not proven hanging up while keying a number) is still abandonment.

The real flow engine, the shipped main flow and hotline, the real queue on Redis and the database; then what a
supervisor reads: the desk's wallboard (today's figures) and ``kefu report``.
"""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from bot.analytics.config import centre_zone
from bot.analytics.contacts import split_contacts
from bot.analytics.live import today_figures
from bot.db.repository import Repository
from bot.ivr.events import CallStart, KeyPress
from bot.ivr.flow_tests import CollectingNotifier
from bot.ivr.handoff import QueueHandoff
from tests.analytics.test_report import report_of  # noqa: F401 (fixture)
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures
from tests.ivr.test_long_wait_on_hold import GatewayDown, agent_on_a_call, calls_take, engine_for, spoken

GUIDE_SENT = "自助服务指引已经发送到您的手机"


def heard(commands: list) -> str:
    return " ".join(text for _, text in spoken(commands))


async def call(engine, call_id: str, caller: str = "13900000011", verified: bool = True) -> None:
    await engine.start(CallStart(call_id=call_id, caller=caller, caller_verified=verified, flow="main",
                                 speech_recognised=True))


async def answered_by_li(engine, handoff: QueueHandoff, call_id: str) -> None:
    """李强 signs in (王芳 is still on her call), takes the caller waiting, settles it and closes; the caller hangs up."""
    await handoff.queue.roster.register("li", name="李强", skills=["general"], capacity=1, status="available")
    claimed = await handoff.queue.claim_next("li")
    assert claimed is not None and claimed.conversation_id == f"ivr:{call_id}"
    await handoff.queue.close(f"ivr:{call_id}", "li", "resolved")
    await engine.end(call_id, "hung_up")


def supervisor_sees(kefu_env, report_of) -> dict:  # noqa: F811
    """Today's wallboard and today's ``kefu report``: abandonment and the calls sent the guide instead."""
    wallboard = today_figures(kefu_env.database_url, kefu_env.content_dir)
    today = dt.datetime.now(centre_zone(kefu_env.content_dir)).date().isoformat()
    code, report, html = report_of(today, today)
    assert code == 0
    return {"wallboard": (wallboard["answered"], wallboard["abandoned"], wallboard["abandonment"],
                          wallboard["selfhelp_sent"]),
            "report": (report[("overall", "", "abandonment")], report[("overall", "", "selfhelp_sent")],
                       report.get(("overall", "", "how_selfhelp_sent")), report.get(("overall", "", "how_abandoned"))),
            "html": html}


def outcomes(kefu_env, *call_ids: str) -> list[str]:
    repository = Repository(kefu_env.database_url)
    return [c.how for call_id in call_ids for c in split_contacts(repository.events_for(f"ivr:{call_id}"))]


async def test_the_guide_texted_at_the_peak_offer_is_self_help_not_abandonment(kefu_env, redis, report_of):  # noqa: F811
    """Three callers press 0 at a ten-minute wait: one takes the guide (1), one's text cannot be sent (the gateway
    down: told so, the call ends), one waits (0) and 李强 answers. With 王芳's caller, two answered and one abandoned: 33 %, not 50 %."""
    handoff = QueueHandoff(redis, Repository(kefu_env.database_url))
    await agent_on_a_call(handoff.queue)
    await calls_take(redis, 600)
    notifier = CollectingNotifier()
    engine, gateway_down = engine_for(kefu_env, redis, handoff, notifier), engine_for(kefu_env, redis, handoff, GatewayDown())
    texted, not_sent, waited = (f"{what}-{uuid.uuid4().hex[:8]}" for what in ("texted", "notsent", "waited"))

    await call(engine, texted)
    assert "当前咨询人数较多" in heard(await engine.handle(texted, KeyPress("0")))  # peak_offer
    assert GUIDE_SENT in heard(await engine.handle(texted, KeyPress("1")))
    await engine.end(texted, "flow")

    await call(gateway_down, not_sent, caller="13900000012")
    await gateway_down.handle(not_sent, KeyPress("0"))
    assert "短信暂时无法发送" in heard(await gateway_down.handle(not_sent, KeyPress("1")))
    await gateway_down.end(not_sent, "flow")

    await call(engine, waited, caller="13900000013")
    await engine.handle(waited, KeyPress("0"))
    assert "正在为您转接人工客服" in heard(await engine.handle(waited, KeyPress("0")))  # 继续等待
    await answered_by_li(engine, handoff, waited)

    assert notifier.sent == ["sms"]
    assert outcomes(kefu_env, texted, not_sent, waited) == ["selfhelp_sent", "abandoned", "agent"]
    seen = supervisor_sees(kefu_env, report_of)
    assert seen["wallboard"] == (2, 1, pytest.approx(1 / 3), 1)
    assert seen["report"] == ("0.3333", "1", "1", "1")
    assert "改发短信自助指引（未等人工）" in seen["html"]


async def test_the_guide_texted_on_hold_is_self_help_not_abandonment(kefu_env, redis, report_of):  # noqa: F811
    """Four callers queue (0) at a minute's wait: 李强 answers one; one presses 3 and is texted the guide; one presses
    3 with the gateway down, keeps their place and hangs up; one whose line is not proven presses 3, leaves the queue
    to key a number and hangs up before any text. With 王芳's caller, two answered and two abandoned: 50 %, not 60 %."""
    handoff = QueueHandoff(redis, Repository(kefu_env.database_url))
    await agent_on_a_call(handoff.queue)
    await calls_take(redis, 60)  # straight to the queue: no busy-time menu
    notifier = CollectingNotifier()
    engine, gateway_down = engine_for(kefu_env, redis, handoff, notifier), engine_for(kefu_env, redis, handoff, GatewayDown())
    answered, texted, not_sent, unproven = (f"{what}-{uuid.uuid4().hex[:8]}"
                                            for what in ("answered", "texted", "notsent", "unproven"))

    await call(engine, answered, caller="13900000021")
    assert "正在为您转接人工客服" in heard(await engine.handle(answered, KeyPress("0")))
    await answered_by_li(engine, handoff, answered)

    await call(engine, texted, caller="13900000022")
    await engine.handle(texted, KeyPress("0"))
    assert GUIDE_SENT in heard(await engine.handle(texted, KeyPress("3")))
    assert await handoff.queue.position(f"ivr:{texted}") is None
    await engine.end(texted, "flow")

    await call(gateway_down, not_sent, caller="13900000023")
    await gateway_down.handle(not_sent, KeyPress("0"))
    assert "暂时无法发送" in heard(await gateway_down.handle(not_sent, KeyPress("3")))
    assert await handoff.queue.position(f"ivr:{not_sent}") is not None, "kept their place"
    await gateway_down.end(not_sent, "hung_up")

    await call(engine, unproven, caller="13900000024", verified=False)
    await engine.handle(unproven, KeyPress("0"))
    assert "接收短信的11位手机号码" in heard(await engine.handle(unproven, KeyPress("3")))
    assert await handoff.queue.position(f"ivr:{unproven}") is None  # left the queue to key a number
    await engine.end(unproven, "hung_up")

    assert notifier.sent == ["sms"]
    assert outcomes(kefu_env, answered, texted, not_sent, unproven) == ["agent", "selfhelp_sent", "abandoned", "abandoned"]
    seen = supervisor_sees(kefu_env, report_of)
    assert seen["wallboard"] == (2, 2, pytest.approx(0.5), 1)
    assert seen["report"] == ("0.5", "1", "1", "2")
