"""Contacts Kefu starts itself: follow-ups after repairs, care contacts, arrears reminders, and the
callbacks customers book while waiting — one schedule in the database, driven by one worker loop."""
