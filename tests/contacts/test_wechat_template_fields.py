"""WeChat template messages show the editors' words for a contact's purpose, in the template's own fields.

Found by an integrator: ``keyword2`` carried the purpose's code, so a customer read "arrears" or
"followup"; and templates from WeChat's current library name their fields ``thing1``, ``amount2``…,
which the hard-coded first/keyword1/keyword2/remark never filled.
"""
from __future__ import annotations

import pytest
import yaml

from bot.contacts.rules import ContactRulesError, load_rules
from bot.contacts.worker import ContactWorker
from bot.db.schema import channel_bindings
from bot.ledger.rules import load_rules as load_ledger_rules
from bot.outbound.wechat_template import WeChatTemplateSender
from tests.contacts.test_contact_messages import FixedToken

OWING_PHONE = "13800000002"  # the demo customer with arrears of 318.00 (content/demo/seed.yml)


def contacts_file(kefu_env, tmp_path, edit) -> object:
    """content/contacts.yml with the arrears reminder sent on WeChat, after ``edit``."""
    raw = yaml.safe_load((kefu_env.content_dir / "contacts.yml").read_text(encoding="utf-8"))
    raw["rules"]["arrears_reminder"]["channels"] = ["wechat"]
    edit(raw)
    path = tmp_path / "contacts.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


async def remind_on_wechat(kefu_env, repository, clock, url: str, path) -> None:
    customer = repository.find_customer(phone=OWING_PHONE)
    with repository.engine.begin() as conn:
        conn.execute(channel_bindings.insert().values(channel="wechat", external_id="openid-owing",
                                                      customer_id=customer.id))
    worker = ContactWorker(repository, rules=lambda: load_rules(path),
                           ledger_rules=lambda: load_ledger_rules(kefu_env.content_dir / "ledger.yml"),
                           messengers={"wechat": WeChatTemplateSender(FixedToken(url), "TPL-ARREARS")}, clock=clock)
    await worker.run_pass()


async def test_the_classic_template_shows_the_purposes_label_not_its_code(kefu_env, repository, clock, wechat_template_api,
                                                                          tmp_path):
    sent, url = wechat_template_api
    await remind_on_wechat(kefu_env, repository, clock, url, contacts_file(kefu_env, tmp_path, lambda raw: None))
    label = yaml.safe_load((kefu_env.content_dir / "contacts.yml").read_text(encoding="utf-8"))["purposes"]["arrears"]
    [body] = [m for m in sent if m["touser"] == "openid-owing"]
    assert body["data"]["keyword2"]["value"] == label["label"] != "arrears"
    assert "318.00" in body["data"]["keyword1"]["value"]


async def test_a_library_template_gets_its_own_fields(kefu_env, repository, clock, wechat_template_api, tmp_path):
    sent, url = wechat_template_api

    def library_template(raw):
        raw["purposes"]["arrears"]["wechat_fields"] = {"thing1": "{label}", "amount2": "{amount}元"}

    await remind_on_wechat(kefu_env, repository, clock, url, contacts_file(kefu_env, tmp_path, library_template))
    [body] = [m for m in sent if m["touser"] == "openid-owing"]
    label = load_rules(tmp_path / "contacts.yml").purposes["arrears"].label
    assert body["data"] == {"thing1": {"value": label}, "amount2": {"value": "318.00元"}}


def test_a_purpose_without_a_label_or_a_field_naming_an_unknown_value_is_refused(kefu_env, tmp_path):
    with pytest.raises(ContactRulesError, match="purposes.arrears.label is required"):
        load_rules(contacts_file(kefu_env, tmp_path, lambda raw: raw["purposes"].pop("arrears")))
    with pytest.raises(ContactRulesError, match="purposes.arrears.wechat_fields.thing1: a value may name only"):
        load_rules(contacts_file(kefu_env, tmp_path, lambda raw: raw["purposes"]["arrears"].update(
            wechat_fields={"thing1": "{customer_name}"})))
