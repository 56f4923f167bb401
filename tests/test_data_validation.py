"""`rasa data validate` must accept the editors' data as shipped."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def test_rasa_data_validate_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "rasa", "data", "validate", "--data", "nlu_data", "--domain", "domain",
         "--config", "config.yml"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " ERROR " not in output, output
    assert "No story structure conflicts found" in output, output
