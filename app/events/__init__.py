"""The event viewer: its filters, pages, chart and views (storage is app/ledger)."""
