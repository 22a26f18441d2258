"""Background jobs: one runner (a thread per server process, or ``flask jobs work``) and
one lease, used by exports, verification runs and the daily maintenance."""
