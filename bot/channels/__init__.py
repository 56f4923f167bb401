"""Kefu's input channels: web chat (Socket.IO), WeChat official account, and the phone IVR.

Each module is one Rasa input/output pair built from ``credentials.yml`` by ``from_credentials``.
"""
from __future__ import annotations


class ChannelConfigError(ValueError):
    """A channel's settings or credentials are unusable; the message says which and why."""
