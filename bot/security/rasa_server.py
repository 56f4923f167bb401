"""Start ``rasa`` with Kefu's API token and masked logs: ``python -m bot.security.rasa_server run ...``.

The token goes into Rasa's own arguments inside this process (from ``KEFU_RASA_TOKEN`` or
``var/secrets/rasa_token``), so it never shows on a command line other users can list.
"""
from __future__ import annotations

import os
import sys

from bot import fast_model_load, sanic_workers, served_model, swap_off_loop
from bot.security import log_masking
from bot.security.body_size import REQUEST_MAX_BYTES
from bot.security.secrets import get_secrets


def main() -> None:
    log_masking.install()
    os.environ.setdefault("SANIC_REQUEST_MAX_SIZE", str(REQUEST_MAX_BYTES))  # Sanic reads it as the app is made
    sanic_workers.install()  # workers listen only once their model is loaded; a dead one is replaced
    served_model.install()  # ...and loads the model last published into the others, not the first one
    swap_off_loop.install()  # a hot swap loads the new model beside the turns, not instead of them
    fast_model_load.install()  # every load (start, swap, a replaced worker) builds the model in half the time
    if len(sys.argv) > 1 and sys.argv[1] == "run" and not any(a.startswith("--auth-token") for a in sys.argv):
        # One argument with "=": a url-safe token may start with "-", which argparse would take for an option.
        sys.argv.append(f"--auth-token={get_secrets().rasa_token}")
    sys.argv[0] = "rasa"
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
