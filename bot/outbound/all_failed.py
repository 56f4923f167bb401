"""``--all-failed`` (``kefu outbox resend|drop``, ``kefu dispatch resend``): every given-up row, each in its own
transaction, then one line naming those taken, also when a database error or Ctrl-C stops the run partway, so
the operator knows which texts are going out again (or were dropped) and which were left as they were."""
from __future__ import annotations

import sys
from typing import Callable, Iterator

from bot.ctrl_c import INTERRUPTED, ctrl_c_between_rows

STOPPED_BY = {"error": "before the error below", "ctrl_c": "before Ctrl-C stopped it"}


def report_taken(taken: list[int], left: list[str], what: str, *, stopped_by: str = "") -> None:
    """What ``--all-failed`` did (``what``: "failed message(s) dropped, never sent"); ``stopped_by``: a key of
    ``STOPPED_BY`` when it stopped partway, the rows after the last one taken left as they are."""
    stopped = f", {STOPPED_BY[stopped_by]} (the ones after them were left as they are)" if stopped_by else ""
    print(f"{len(taken)} {what}{stopped}: {' '.join(map(str, taken)) or '-'}", flush=True)
    for reason in left:
        print(f"kefu: left as it is: {reason}", file=sys.stderr, flush=True)


def take_all_failed(each_row: Callable[[], Iterator[tuple[int | str, str | None]]], what: str) -> int:
    """Runs ``each_row()``: it opens the database and yields every failed row's id once its change is
    committed, with None, or with why it was left as it is. Exit code 0, 1 when some were left; 130 at Ctrl-C;
    a database error is re-raised after the line, for its own error line (``run_one_shot``)."""
    taken, left, finished = [], [], False
    with ctrl_c_between_rows() as pressed:
        try:
            rows = each_row()
            while not pressed.is_set():
                row = next(rows, None)
                if row is None:
                    finished = True
                    break
                row_id, reason = row
                if reason:
                    left.append(reason)
                else:
                    taken.append(row_id)
        except KeyboardInterrupt:  # raised by a Ctrl-C handler not ours: the same line, no traceback
            pass
        except BaseException:
            report_taken(taken, left, what, stopped_by="error")
            raise
    if not finished:
        report_taken(taken, left, what, stopped_by="ctrl_c")
        return INTERRUPTED
    report_taken(taken, left, what)
    return 1 if left else 0
