"""Secrets stay out of logs and answers: passwords, tokens, the signing key."""

from __future__ import annotations

import httpx
from loguru import logger

from pulsetrader.api.server import ApiServer
from tests.integration.api.conftest import JWT_SECRET, PASSWORD, USER, login


async def test_no_password_token_or_key_in_logs_or_answers(
    server: ApiServer, anon: httpx.AsyncClient
) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, level="TRACE", format="{message} {extra}")
    try:
        tokens = await login(anon)
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        answers = [
            await anon.get("/api/status", headers=headers),
            await anon.get("/api/events?access_token=x", headers={"Authorization": "Bearer bad"}),
            await anon.post("/api/auth/token", data={"username": PASSWORD, "password": PASSWORD}),
            await anon.post("/api/auth/token", data={"username": USER, "password": "nope"}),
            await anon.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
            await anon.get("/api/health/details", headers=headers),
            await anon.get("/openapi.json"),
        ]
    finally:
        logger.remove(sink)
    log = "".join(lines)
    assert "logged in" in log  # the sink did see the API's records
    for secret in (PASSWORD, tokens["access_token"], tokens["refresh_token"], JWT_SECRET):
        assert secret not in log
        for answer in answers:
            assert secret not in answer.text
