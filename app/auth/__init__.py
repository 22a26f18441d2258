"""Accounts: users, passwords, sign-in and the first-run setup."""
