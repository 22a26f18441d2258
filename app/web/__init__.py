"""What every page and endpoint shares: htmx helpers, form errors, error pages, JSON
errors, security headers, sessions, 404 lookups, the health check."""
