"""The API over a real engine against the simulator."""
