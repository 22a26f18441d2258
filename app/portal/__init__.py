"""Admin Portal links: an organization's own IT admins, without a dashboard account, in a
session scoped to one organization and one intent (its audit log, or its log streams)."""
