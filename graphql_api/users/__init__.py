"""Users, sessions, API keys and self-service (register, verify, reset, change password)."""
