"""The simulator's aiohttp server: REST routes, WebSocket streams and control endpoints."""
