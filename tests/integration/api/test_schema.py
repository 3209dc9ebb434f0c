"""Schemathesis over the OpenAPI schema, authorized, against the real engine and simulator:
no generated input, valid or not, gets a 5xx, and answers match the documented schema.

The engine, the simulator and the API run on a thread of their own with their own event loop,
because schemathesis sends its requests synchronously (``requests``). The actions are not
excluded: they halt, resume and close against the simulator, which is what a user could do.
``/api/events`` is left out (a stream that ends only when its token expires), and is covered in
test_events.py. Hypothesis runs derandomized with a bounded number of examples per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.api.conftest import PASSWORD, USER
from tests.integration.api.stack import EngineThread

T = TypeVar("T")

#: Examples per operation and generation mode: about 900 requests, a few seconds in all.
EXAMPLES = 20
hypothesis_settings.register_profile(
    "api-schema",
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same inputs on every run
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)

POSITIVE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
NEGATIVE_CHECKS = [not_a_server_error, status_code_conformance, negative_data_rejection]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[EngineThread]:
    with EngineThread(tmp_path) as running:
        yield running


# Schemathesis' negative generation calls the random module inside a strategy, which
# Hypothesis reports as deprecated: theirs to fix, not a failure of this API.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
def test_no_input_gets_a_server_error(running: EngineThread) -> None:
    assert running.server is not None
    base = running.server.url
    token = httpx.post(
        f"{base}/api/auth/token", data={"username": USER, "password": PASSWORD}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operations = [
        result.ok() for result in schema.get_all_operations() if result.ok().path != "/api/events"
    ]
    assert len(operations) >= 20

    for operation in operations:
        for mode, checks in (
            (GenerationMode.POSITIVE, POSITIVE_CHECKS),
            (GenerationMode.NEGATIVE, NEGATIVE_CHECKS),
        ):

            @hypothesis_settings(hypothesis_settings.get_profile("api-schema"))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=base, headers=headers, checks=checks, timeout=30)

            try:
                run()
            except Unsatisfiable:
                # Nothing to make invalid: an operation without parameters or body.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:
                raise AssertionError(f"{operation.label} ({mode.value}): {exc}") from exc
