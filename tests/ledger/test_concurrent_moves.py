"""Two moves of one ticket at once: the second starts from where the first left it. A follow-up call's
"fixed" (resolved -> follow_up_done) committing while an agent closes 已告知客户 (resolved ->
customer_told) must not take the ticket back from follow_up_done to customer_told."""
from __future__ import annotations

import threading

import pytest

from bot.db.repository import Repository, TicketTransitionError
from bot.db.schema import ticket_history, tickets


def test_a_move_waits_for_one_in_flight_and_starts_from_its_result(kefu_env):
    repository = Repository(kefu_env.database_url)
    ticket_id = repository.create_ticket(kind="fault", customer_id=1, summary="no signal",
                                         details={"fault_type": "tv"})
    repository.move_ticket(ticket_id, "assigned")
    repository.move_ticket(ticket_id, "resolved")

    outcome: list[object] = []

    def agent_closes_customer_told() -> None:
        try:
            repository.move_ticket(ticket_id, "customer_told", note="agent: told")
            outcome.append("moved")
        except TicketTransitionError as exc:
            outcome.append(exc)

    with repository.engine.connect() as conn:
        in_flight = conn.begin()  # the follow-up call's move, not committed yet
        conn.execute(tickets.update().where(tickets.c.ticket_id == ticket_id).values(status="follow_up_done"))
        conn.execute(ticket_history.insert().values(ticket_id=ticket_id, from_status="resolved",
                                                    to_status="follow_up_done", note="follow-up contact: fixed"))
        agent = threading.Thread(target=agent_closes_customer_told)
        agent.start()
        agent.join(timeout=1.0)  # it reads and waits for the row
        assert agent.is_alive(), "the agent's move should wait for the move in flight"
        in_flight.commit()
    agent.join(timeout=30)

    assert repository.get_ticket(ticket_id)["status"] == "follow_up_done"
    assert len(outcome) == 1 and isinstance(outcome[0], TicketTransitionError)
    steps = [(h["from_status"], h["to_status"]) for h in repository.ticket_history(ticket_id)]
    assert steps[-1] == ("resolved", "follow_up_done")
    with pytest.raises(TicketTransitionError):  # and the lifecycle still refuses it afterwards
        repository.move_ticket(ticket_id, "customer_told")
