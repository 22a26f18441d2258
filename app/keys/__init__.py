"""API keys: how applications authenticate to the JSON API."""
