"""Engine (composition root) integration tests."""
