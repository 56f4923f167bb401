"""Rasa's command line with Kefu's faster model load (``bot/fast_model_load.py``):
``python -m bot.rasa_cli test nlu ...`` is ``rasa test nlu ...`` that loads its model in half the time."""
from __future__ import annotations

import sys

from bot import fast_model_load


def main() -> None:
    fast_model_load.install()
    sys.argv[0] = "rasa"
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
