"""The dashboard's own audit trail: what people do in the dashboard, in the organization's log."""
