"""`kefu contacts list` after weeks of running: the schedule holds thousands of contacts made long ago. The
list showed the 200 with the oldest due times — last month's, all done — and never the contacts still
to come, without a word that any were left out. It shows the latest 200, soonest first, and says how
many it left out. `content/contacts.yml` tells editors that failed contacts show in
`kefu contacts list --failed`: that option exists."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from bot.cli import main
from bot.contacts.schedule import Schedule
from bot.db.schema import contacts


def made_last_month(repository, count: int) -> None:
    old = dt.datetime.utcnow() - dt.timedelta(days=30)
    with repository.engine.begin() as conn:
        conn.execute(contacts.insert(), [
            {"dedupe_key": f"old:{i}", "purpose": "followup", "rule": "repair_followup", "due_at": old,
             "channels": ["phone"], "phone": f"1390000{i:04d}", "openid": "", "status": "done", "result": "fixed",
             "attempts": 1, "details": {}, "created_at": old, "updated_at": old} for i in range(count)])


def rows(out: str) -> list[list[str]]:
    """The table's rows, split into words: id purpose rule status due-date due-time tries ticket result."""
    return [words for words in map(str.split, out.splitlines()[1:])
            if len(words) >= 9 and words[1] in ("followup", "care", "arrears", "callback")]


def listed_rules(out: str) -> list[str]:
    return [row[2] for row in rows(out)]


def test_the_list_shows_the_contacts_still_to_come_after_weeks_of_done_ones(kefu_env, repository, capsys):
    made_last_month(repository, 300)
    Schedule(repository).add(dedupe_key="care_suspension:tomorrow", purpose="care", rule="care_suspension",
                             due_at=dt.datetime.utcnow() + dt.timedelta(days=1), channels=["sms"],
                             phone="13900009999")
    assert main(["contacts", "list"]) == 0
    out = capsys.readouterr().out
    rules = listed_rules(out)
    assert rules[-1] == "care_suspension" and len(rules) == 200
    assert "200 of 301 contact(s)" in out


def test_failed_contacts_are_listed_with_the_option_the_editors_file_names(kefu_env, repository, capsys):
    made_last_month(repository, 3)
    with repository.engine.begin() as conn:
        conn.execute(contacts.update().where(contacts.c.dedupe_key == "old:1").values(status="failed",
                                                                                      result="no_answer"))
    assert "`kefu contacts list --failed`" in (kefu_env.content_dir / "contacts.yml").read_text(encoding="utf-8")
    assert main(["contacts", "list", "--failed"]) == 0
    out = capsys.readouterr().out
    assert [row[3] for row in rows(out)] == ["failed"]
    with repository.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(contacts)).scalar() == 3
