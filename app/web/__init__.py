"""What every HTML page shares: the layout's context, errors, security headers."""
