"""Two moves of one ticket at once: the second starts from where the first left it. A follow-up call's
"fixed" (resolved -> follow_up_done) committing while an agent closes 已告知客户 (resolved ->
customer_told) must not take the ticket back from follow_up_done to customer_told."""
from __future__ import annotations

import threading

import pytest

from bot.db.repository import Repository, TicketTransitionError
from bot.db.schema import ticket_history, ticket_owners, tickets
from bot.ledger.ledger import Ledger
from bot.ledger.rules import load_rules


def waits_for(transaction, act, outcome: list, why: str) -> None:
    """Run ``act`` in another thread while ``transaction`` holds the ticket's row: it must wait (still running
    a second later), then finish once the transaction commits. What it returned or raised goes in ``outcome``."""
    def run() -> None:
        try:
            outcome.append(act())
        except Exception as exc:  # noqa: BLE001 - the test shows what the agent would get
            outcome.append(exc)

    agent = threading.Thread(target=run)
    agent.start()
    agent.join(timeout=1.0)  # it reads and waits for the row
    assert agent.is_alive(), why
    transaction.commit()
    agent.join(timeout=30)


def test_a_move_waits_for_one_in_flight_and_starts_from_its_result(kefu_env):
    repository = Repository(kefu_env.database_url)
    ticket_id = repository.create_ticket(kind="fault", customer_id=1, summary="no signal",
                                         details={"fault_type": "tv"})
    repository.move_ticket(ticket_id, "assigned")
    repository.move_ticket(ticket_id, "resolved")

    outcome: list[object] = []

    with repository.engine.connect() as conn:
        in_flight = conn.begin()  # the follow-up call's move, not committed yet
        conn.execute(tickets.update().where(tickets.c.ticket_id == ticket_id).values(status="follow_up_done"))
        conn.execute(ticket_history.insert().values(ticket_id=ticket_id, from_status="resolved",
                                                    to_status="follow_up_done", note="follow-up contact: fixed"))
        waits_for(in_flight, lambda: repository.move_ticket(ticket_id, "customer_told", note="agent: told"), outcome,
                  "the agent's move should wait for the move in flight")

    assert repository.get_ticket(ticket_id)["status"] == "follow_up_done"
    assert len(outcome) == 1 and isinstance(outcome[0], TicketTransitionError)
    steps = [(h["from_status"], h["to_status"]) for h in repository.ticket_history(ticket_id)]
    assert steps[-1] == ("resolved", "follow_up_done")
    with pytest.raises(TicketTransitionError):  # and the lifecycle still refuses it afterwards
        repository.move_ticket(ticket_id, "customer_told")


def test_the_first_agent_to_act_on_an_unowned_ticket_stays_its_owner_when_a_second_acts_at_once(kefu_env):
    """Two agents close a step of the same unowned ticket at the same moment: the first owns it ("the
    closer owns an unowned item"; a later one does not take it over). The owner was read before anything
    was locked, so the second found no owner and then, on SQLite, overwrote the first's row (the ledger
    named the wrong agent), or on PostgreSQL collided with it and the agent's click failed."""
    repository = Repository(kefu_env.database_url)
    ticket_id = repository.create_ticket(kind="fault", customer_id=1, summary="no signal")
    outcome: list[object] = []

    def second_agent() -> str:
        repository.set_ticket_owner(ticket_id, "lisi", if_unowned=True)
        return "done"

    with repository.engine.connect() as conn:
        first = conn.begin()  # the first agent's claim, as set_ticket_owner writes it, not committed yet
        conn.execute(tickets.update().where(tickets.c.ticket_id == ticket_id).values(updated_at=tickets.c.updated_at))
        conn.execute(ticket_owners.insert().values(ticket_id=ticket_id, owner="zhangsan"))
        waits_for(first, second_agent, outcome, "the second claim should wait for the first")

    assert outcome == ["done"]
    assert Ledger(repository, load_rules(kefu_env.content_dir / "ledger.yml")).item(ticket_id).owner == "zhangsan"


def test_an_agent_closing_customer_told_while_the_dispatch_system_resolves_the_ticket_closes_it(kefu_env):
    """An agent closes 已告知客户 on an assigned ticket (resolved, then customer_told) while the dispatch
    system's "resolved" is committing. The moves were chosen from the status read before either was
    locked, so the agent's first move (assigned -> resolved) met a resolved ticket, and the agent got an
    error for a step that could be closed; each move was also its own transaction."""
    repository = Repository(kefu_env.database_url)
    ledger = Ledger(repository, load_rules(kefu_env.content_dir / "ledger.yml"))
    ticket_id = repository.create_ticket(kind="fault", customer_id=1, summary="no signal")
    repository.move_ticket(ticket_id, "assigned")
    outcome: list[object] = []

    with repository.engine.connect() as conn:
        dispatch = conn.begin()  # the dispatch system's "resolved", not committed yet
        conn.execute(tickets.update().where(tickets.c.ticket_id == ticket_id).values(status="resolved"))
        conn.execute(ticket_history.insert().values(ticket_id=ticket_id, from_status="assigned",
                                                    to_status="resolved", note="dispatch: job done"))
        waits_for(dispatch, lambda: ledger.close_step(ticket_id, "zhangsan", "told by phone").step, outcome,
                  "the agent's close should wait for the move in flight")

    assert outcome == ["customer_told"]
    steps = [(h["from_status"], h["to_status"]) for h in repository.ticket_history(ticket_id)]
    assert steps[-2:] == [("assigned", "resolved"), ("resolved", "customer_told")]
