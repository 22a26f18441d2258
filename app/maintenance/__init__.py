"""Maintenance: the daily job (retention purge and other clean-ups) and its scheduler."""
