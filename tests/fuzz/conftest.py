"""Hypothesis budgets: a small one in `make test`, a long one with `make fuzz` (HYPOTHESIS_PROFILE=fuzz)."""
from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

_common = dict(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
               print_blob=True)
settings.register_profile("ci", max_examples=25, deadline=timedelta(seconds=10), **_common)
settings.register_profile("fuzz", max_examples=2000, deadline=timedelta(seconds=10), **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
