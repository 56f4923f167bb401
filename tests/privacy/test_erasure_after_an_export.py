"""A customer who asks for a copy of their data and then to be erased: the export, a full copy of
everything about them (bills, transcripts, recordings) in ``var/exports/customer-<id>-<time>/``, stayed
on Kefu's disk after the erasure said it was done."""
from __future__ import annotations

from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu  # noqa: F401  the seeded stores


def test_the_erasure_deletes_the_customers_exports_in_the_data_folder(env, capsys):  # noqa: F811
    settings, _client, _seeded = env
    assert kefu("customer", "export", "13800000001") == 0
    assert kefu("customer", "export", "13800000002") == 0
    exports = settings.data_dir / "exports"
    mine = [p for p in exports.iterdir() if p.name.startswith("customer-1-")]
    assert len(mine) == 1 and (mine[0] / "recordings").is_dir()
    capsys.readouterr()

    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    assert "exports 1" in capsys.readouterr().out
    assert not mine[0].exists()
    assert [p.name.split("-")[1] for p in exports.iterdir()] == ["2"]  # another customer's export stays


def test_an_export_made_on_another_machine_is_deleted_by_that_machines_tidy_pass(env, tmp_path, monkeypatch):  # noqa: F811
    """Each ``kefu run`` machine writes exports into its own data folder: erased on machine B, the customer's
    export on machine A (a full copy of their data) stayed there."""
    import threading

    from bot import settings as settings_module
    from bot.db.recordings import tidy_forever

    machine_a, _client, _seeded = env
    assert kefu("customer", "export", "13800000001") == 0
    assert kefu("customer", "export", "13800000002") == 0
    exports = machine_a.data_dir / "exports"
    [theirs] = [p for p in exports.iterdir() if p.name.startswith("customer-1-")]

    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "machine-b"))  # the erasure runs on machine B,
    monkeypatch.setenv("KEFU_DATABASE_URL", machine_a.database_url)  # on the same database
    settings_module.get_settings.cache_clear()
    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    assert theirs.exists(), "machine B cannot reach machine A's disk"

    made_since = exports / theirs.name.replace(theirs.name[len("customer-1-"):], "29991231T000000Z")
    made_since.mkdir()  # a later customer given the same id: not the erased one's
    stop = threading.Event()
    stop.set()  # one pass
    tidy_forever(machine_a, stop)  # machine A's next tidy pass
    assert not theirs.exists()
    assert made_since.is_dir()
    assert sorted(p.name.split("-")[1] for p in exports.iterdir()) == ["1", "2"]  # another customer's stays


def test_an_export_made_on_a_machine_whose_clock_runs_ahead_is_deleted_by_an_erasure_after_it(
        env, tmp_path, monkeypatch):  # noqa: F811
    """Machine A's clock ran ten minutes ahead: its export was stamped ten minutes into the future, the
    erasure run on machine B a minute later counted it as made since (a later customer's), and the erased
    customer's full copy stayed on machine A's disk."""
    import datetime as dt
    import threading
    import types

    from bot import settings as settings_module
    from bot.db.recordings import tidy_forever
    from bot.privacy import export as export_module

    class TenMinutesAhead(dt.datetime):
        @classmethod
        def utcnow(cls):
            return dt.datetime.utcnow() + dt.timedelta(minutes=10)

    machine_a, _client, _seeded = env
    monkeypatch.setattr(export_module, "dt", types.SimpleNamespace(datetime=TenMinutesAhead))
    assert kefu("customer", "export", "13800000001") == 0
    [theirs] = (machine_a.data_dir / "exports").iterdir()
    monkeypatch.undo()

    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "machine-b"))  # the erasure runs on machine B,
    monkeypatch.setenv("KEFU_DATABASE_URL", machine_a.database_url)  # on the same database
    settings_module.get_settings.cache_clear()
    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    stop = threading.Event()
    stop.set()  # one pass
    tidy_forever(machine_a, stop)  # machine A's next tidy pass
    assert not theirs.exists()
