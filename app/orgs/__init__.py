"""Organizations, their members and the roles members hold."""
