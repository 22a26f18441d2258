"""Background jobs: one runner (a thread per server process; ``flask exports work`` runs
the exports queue in the foreground) and one lease, used by exports, verification runs
and the daily maintenance."""
