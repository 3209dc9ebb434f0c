"""Unit tests of the API: users, tokens, the login throttle."""
