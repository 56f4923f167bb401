"""Kefu's offline voice layer: audio decoding, endpointing, ASR (Vosk) and TTS (pyttsx3).

Nothing heavy happens at import time: models and the TTS worker are created on first use.
"""
