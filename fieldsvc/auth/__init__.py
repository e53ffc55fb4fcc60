"""Logins, bearer tokens, role guards and the caller identity every query is scoped by."""
