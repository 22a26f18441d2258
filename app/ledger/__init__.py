"""The ledger: stored events and their targets, each organization's hash chain, the
search terms, the accepted event's shape, and the one way events are appended.

Everything that stores or reads events depends on this package; it depends on nothing
of the app but the shared modules (extensions, timestamps, ids, columns).
"""
