"""A phone caller's clips were found only through the call's tracker (the clip ids its turns name). A
tracker that is gone before its clips — ``KEFU_TRACKER_EXPIRY_SECONDS`` set shorter than
``KEFU_CALLER_CLIP_EXPIRY_SECONDS``, a stricter policy for transcripts than for audio — left the
caller's voice in the shared database: missing from their export, and kept after their erasure."""
from __future__ import annotations

import json

from tests.handoff.conftest import redis_url  # noqa: F401  the real Redis of the handoff tests
from tests.privacy.test_customer_requests import env, kefu  # noqa: F401  the seeded stores


def test_a_clip_of_their_call_is_exported_and_erased_after_the_calls_tracker_expired(env, tmp_path):  # noqa: F811
    settings, client, seeded = env
    client.delete("kefu:events:ivr:f1")  # expired: the call is still theirs by its analytics events

    folder = tmp_path / "export"
    assert kefu("customer", "export", "13800000001", "--out", str(folder)) == 0
    listed = json.loads((folder / "customer.json").read_text(encoding="utf-8"))["recordings"]
    assert f"caller_clip-{seeded.db_clip_id}.wav" in [r["name"] for r in listed]
    assert (folder / "recordings" / f"caller_clip-{seeded.db_clip_id}.wav").read_bytes() == b"RIFF-clip-in-db"

    assert kefu("customer", "erase", "13800000001", "--yes") == 0
    assert not seeded.recording_kept("caller_clip", seeded.db_clip_id)
