"""Background jobs: one runner (in each server process, a thread per queue; ``flask
exports work`` runs the exports queue in the foreground) and one lease, used by exports,
verification runs and the daily maintenance."""
