"""Accounts: users and their passwords (sign-in pages are in app/auth)."""
