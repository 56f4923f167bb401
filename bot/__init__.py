"""Kefu: the customer-service centre around a Rasa assistant."""
