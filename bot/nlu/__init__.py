"""Kefu's own NLU components for the Rasa pipeline."""
