"""The Rasa API token reaches Rasa's argument parser intact, whatever character it starts with."""
from __future__ import annotations

import argparse
import sys
from types import SimpleNamespace

from bot.security import rasa_server


def test_a_token_starting_with_a_dash_is_one_argument(monkeypatch):
    import rasa.__main__

    seen = {}
    monkeypatch.setattr(rasa_server, "get_secrets", lambda: SimpleNamespace(rasa_token="-9yToken_with-dash"))
    monkeypatch.setattr(rasa_server.log_masking, "install", lambda: None)
    monkeypatch.setattr(rasa.__main__, "main", lambda: seen.setdefault("argv", list(sys.argv)))
    monkeypatch.setattr(sys, "argv", ["python", "run", "--port", "5005"])
    rasa_server.main()
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("--port")
    parser.add_argument("-t", "--auth-token")
    assert parser.parse_args(seen["argv"][1:]).auth_token == "-9yToken_with-dash"
