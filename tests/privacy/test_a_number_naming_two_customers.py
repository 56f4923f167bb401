"""``kefu customer export|erase`` take a customer id, a phone number or an account number. A short
account number that is also another customer's id (account ``102345`` at an operator past 102,345
customers) named two people, and the command took whichever row the database gave first: the
erasure of one customer could delete another's data, past undoing. Such a value is refused, and
``id:``, ``phone:`` or ``account:`` says which is meant."""
from __future__ import annotations

import sqlalchemy as sa

from bot.db.repository import Repository
from bot.db.schema import customers
from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu, rows  # noqa: F401  the seeded stores


def test_a_value_that_is_one_customers_id_and_anothers_account_is_refused_until_said_which(env, capsys):  # noqa: F811
    settings, _client, _seeded = env
    zhang = rows(settings, sa.select(customers).where(customers.c.phone == "13800000001"))[0]["id"]
    with Repository(settings.database_url).engine.begin() as conn:
        zhao = conn.execute(customers.insert().values(phone="13912340007", account_number=str(zhang), name="赵六",
                                                      external_id="CRM-7")).inserted_primary_key[0]
    capsys.readouterr()

    assert kefu("customer", "erase", str(zhang), "--yes") == 1
    assert kefu("customer", "export", str(zhang)) == 1
    err = capsys.readouterr().err
    assert f"id:{zhang}" in err and f"account:{zhang}" in err and "nothing was" in err
    assert len(rows(settings, sa.select(customers).where(customers.c.id.in_([zhang, zhao])))) == 2

    assert kefu("customer", "erase", f"account:{zhang}", "--yes") == 0
    assert [r["id"] for r in rows(settings, sa.select(customers).where(customers.c.id.in_([zhang, zhao])))] == [zhang]
    assert kefu("customer", "erase", f"id:{zhang}", "--yes") == 0
    assert rows(settings, sa.select(customers).where(customers.c.id == zhang)) == []


def test_a_phone_number_in_another_usual_spelling_finds_the_customer(env, tmp_path):  # noqa: F811
    """The customer reads their number out as they write it: ``+86 138-0000-0001`` is 13800000001."""
    folder = tmp_path / "export"
    assert kefu("customer", "export", "+86 138-0000-0001", "--out", str(folder)) == 0
    assert "张伟" in (folder / "customer.json").read_text(encoding="utf-8")


def test_an_out_that_is_a_file_is_refused_with_a_clear_line(env, tmp_path, capsys):  # noqa: F811
    """``--out`` naming a file was a traceback (NotADirectoryError), not the command's own refusal."""
    taken = tmp_path / "customer.json"
    taken.write_text("{}", encoding="utf-8")
    assert kefu("customer", "export", "13800000001", "--out", str(taken)) == 2
    assert f"kefu: {taken} is not an empty folder" in capsys.readouterr().err
    assert taken.read_text(encoding="utf-8") == "{}"
