"""Kafka Connect: the REST client, connector reconciliation, and the holds that keep a
connector stopped during a restore. (The supervisor's per-connector stop window is
supervisor/stop_window.py: it records into the supervisor's staging and offsets.)"""
