"""Integrity: each organization's hash chain, its verification, and purge checkpoints."""
