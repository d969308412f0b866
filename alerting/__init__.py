"""Alerting shared by the worker (evaluation, delivery) and the views API (rules API, test sends)."""
