"""Log streams: every event of an organization delivered to its own tools (docs/streams.md)."""
