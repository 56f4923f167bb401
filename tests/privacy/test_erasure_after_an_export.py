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
