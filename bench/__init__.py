"""Benchmarks: ``make bench`` (``python -m bench``). They print figures, never assert times."""
