"""Shared by every function: settings, audit trail, identity, API key store, SnapStart, log levels.

No Lambda event shapes here: handlers translate events before they reach this code.
"""
