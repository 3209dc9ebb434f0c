"""Suite-wide settings: Hypothesis profiles and isolation from the developer's own environment."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# CI runs a bounded number of examples with no deadline (a 2-core machine under xdist is noisy);
# locally the default profile explores more. Select with HYPOTHESIS_PROFILE.
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

_OUR_VARIABLES = (
    "ALPACA_",
    "JWT_SECRET_KEY",
    "PULSETRADER_",
    "LOG_LEVEL",
    "LOG_DIR",
    "LOG_JSON",
    "API_",
    "RISK_",
    "STRATEGIES_FILE",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path, request) -> None:
    """No test sees the developer's real keys or .env: each runs in an empty temp directory.

    Tests marked ``live`` keep the environment, since they exist to use real keys.
    """
    if request.node.get_closest_marker("live"):
        return
    for name in list(os.environ):
        if name.startswith(_OUR_VARIABLES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
