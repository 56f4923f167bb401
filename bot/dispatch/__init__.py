"""The operator's own ticketing/dispatch system: ticket events out (``events``, ``delivery``) and
status changes back (``status``, served by ``bot/channels/dispatch.py``). See README, "Dispatch and
ticketing integration"."""
