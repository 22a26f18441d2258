"""The JSON API, wire-compatible with the WorkOS Audit Logs API."""
