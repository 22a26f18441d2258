"""Sign in, sign out, the first-run setup and the user's account page."""
