"""FaultProfile parsing and FaultInjector behaviour: matching, windows, counts, seeded dice."""

from __future__ import annotations

import json

import pytest

from pulsetrader.sim.faults import FaultInjector, FaultProfile, FaultRule

SPEC_EXAMPLE = {
    "seed": 1,
    "rules": [
        {"match": {"method": "POST", "path": "/v2/orders"}, "effect": "drop_response",
         "probability": 0.3},
        {"match": {"path_prefix": "/v2/account"}, "effect": "status", "status": 503,
         "probability": 0.5},
        {"match": {"path_prefix": "/v2/"}, "effect": "status", "status": 429, "retry_after": 2},
        {"match": {"path_prefix": "/v2/"}, "effect": "latency", "ms": 200},
        {"match": {"method": "GET", "path": "/v2/orders"}, "effect": "hang", "seconds": 30},
        {"match": {"path": "/v2/clock"}, "effect": "reset"},
        {"stream": "trade_updates", "effect": "duplicate", "probability": 0.2},
        {"stream": "trade_updates", "effect": "reorder", "probability": 0.2},
        {"stream": "iex", "effect": "disconnect", "every_seconds": 10},
        {"stream": "crypto", "effect": "disconnect", "at_seconds": [20, 5]},
        {"stream": "*", "effect": "silence", "after_seconds": 5, "duration_seconds": 30},
    ],
}  # fmt: skip


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def injector(rules: list[dict], seed: int | None = 7) -> tuple[FaultInjector, FakeMonotonic]:
    clock = FakeMonotonic()
    return FaultInjector(FaultProfile.parse({"seed": seed, "rules": rules}), clock), clock


def test_parse_spec_example_round_trips() -> None:
    profile = FaultProfile.parse(SPEC_EXAMPLE)
    assert len(profile.rules) == 11
    first = profile.rules[0]
    assert (first.effect, first.match_method, first.match_path, first.probability) == (
        "drop_response",
        "POST",
        "/v2/orders",
        0.3,
    )
    assert profile.rules[9].at_seconds == (5.0, 20.0)
    assert FaultProfile.parse(profile.to_dict()) == profile


def test_load_reads_a_file(tmp_path) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps(SPEC_EXAMPLE))
    assert FaultProfile.load(path) == FaultProfile.parse(SPEC_EXAMPLE)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        FaultProfile.load(path)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"effect": "explode"}], "'effect' must be one of"),
        ([{"match": {}, "effect": "status"}], "requires 'status'"),
        ([{"match": {}, "effect": "latency"}], "requires 'ms'"),
        ([{"match": {}, "effect": "hang"}], "requires 'seconds'"),
        ([{"match": {"verb": "GET"}, "effect": "reset"}], "unknown match key"),
        ([{"match": {"path_regex": "("}, "effect": "reset"}], "invalid path_regex"),
        ([{"match": {}, "effect": "reset", "probability": 2}], "between 0 and 1"),
        ([{"match": {}, "effect": "reset", "count": -1}], "'count'"),
        ([{"match": {}, "effect": "status", "status": 42}], "HTTP status code"),
        ([{"stream": "news", "effect": "silence", "duration_seconds": 1}], "needs 'stream'"),
        ([{"stream": "iex", "effect": "disconnect"}], "every_seconds"),
        ([{"stream": "iex", "effect": "reset"}], "cannot have a 'stream'"),
        ([{"match": {}, "effect": "reset", "colour": "red"}], "unknown key"),
        ([{"match": {}, "effect": "latency", "ms": "fast"}], "must be a number"),
    ],
)
def test_parse_rejects_bad_rules_with_clear_messages(rules: list, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        FaultProfile.parse({"rules": rules})
    assert "rule 0" in str(info.value) or "effect" in str(info.value)


def test_parse_rejects_bad_profiles() -> None:
    with pytest.raises(ValueError, match="unknown profile key"):
        FaultProfile.parse({"rules": [], "extra": 1})
    with pytest.raises(ValueError, match="'rules' must be a list"):
        FaultProfile.parse({"rules": {}})
    with pytest.raises(ValueError, match="'seed' must be an integer"):
        FaultProfile.parse({"seed": "x", "rules": []})


def test_http_matching_by_method_path_prefix_and_regex() -> None:
    inj, _ = injector(
        [
            {"match": {"method": "post", "path": "/v2/orders"}, "effect": "drop_response"},
            {"match": {"path_prefix": "/v2/account"}, "effect": "status", "status": 503},
            {"match": {"path_regex": r"^/v2/orders/[0-9a-f-]+$"}, "effect": "reset"},
        ]
    )
    assert [r.effect for r in inj.http_faults("POST", "/v2/orders")] == ["drop_response"]
    assert inj.http_faults("GET", "/v2/orders") == []
    assert [r.status for r in inj.http_faults("GET", "/v2/account/configurations")] == [503]
    assert [r.effect for r in inj.http_faults("DELETE", "/v2/orders/ab-12")] == ["reset"]
    assert inj.http_faults("GET", "/v2/clock") == []


def test_rules_fire_in_profile_order() -> None:
    inj, _ = injector(
        [
            {"match": {"path_prefix": "/v2/"}, "effect": "latency", "ms": 5},
            {"match": {"path_prefix": "/v2/"}, "effect": "status", "status": 500},
        ]
    )
    assert [r.effect for r in inj.http_faults("GET", "/v2/clock")] == ["latency", "status"]


def test_count_limits_how_often_a_rule_fires() -> None:
    inj, _ = injector([{"match": {"path": "/v2/clock"}, "effect": "reset", "count": 2}])
    fired = [bool(inj.http_faults("GET", "/v2/clock")) for _ in range(5)]
    assert fired == [True, True, False, False, False]
    assert inj.snapshot()["rules"][0]["fired"] == 2


def test_window_is_measured_from_load_time() -> None:
    inj, clock = injector(
        [{"match": {}, "effect": "reset", "start_seconds": 10, "end_seconds": 20}]
    )
    assert inj.http_faults("GET", "/x") == []
    clock.now += 10
    assert inj.http_faults("GET", "/x")
    clock.now += 9.9
    assert inj.http_faults("GET", "/x")
    clock.now += 0.1
    assert inj.http_faults("GET", "/x") == []
    inj.load(inj.profile)  # reloading restarts the window
    clock.now += 10
    assert inj.http_faults("GET", "/x")


def test_probability_is_seeded_and_reproducible() -> None:
    rules = [{"match": {}, "effect": "reset", "probability": 0.3}]
    a, _ = injector(rules, seed=42)
    b, _ = injector(rules, seed=42)
    pattern_a = [bool(a.http_faults("GET", "/x")) for _ in range(200)]
    pattern_b = [bool(b.http_faults("GET", "/x")) for _ in range(200)]
    assert pattern_a == pattern_b
    assert 30 <= sum(pattern_a) <= 90  # about 30% of 200
    c, _ = injector(rules, seed=43)
    assert [bool(c.http_faults("GET", "/x")) for _ in range(200)] != pattern_a


def test_probability_zero_never_fires_and_one_always_does() -> None:
    inj, _ = injector(
        [
            {"match": {}, "effect": "reset", "probability": 0},
            {"match": {}, "effect": "latency", "ms": 1},
        ]
    )
    for _ in range(50):
        assert [r.effect for r in inj.http_faults("GET", "/")] == ["latency"]


def test_stream_rules_expand_data_and_star_without_rolling() -> None:
    inj, _ = injector(
        [
            {"stream": "data", "effect": "duplicate", "count": 1},
            {"stream": "*", "effect": "silence", "after_seconds": 1, "duration_seconds": 2},
            {"stream": "trade_updates", "effect": "reorder"},
            {"match": {}, "effect": "reset"},
        ]
    )
    assert [r.effect for r in inj.stream_rules("iex")] == ["duplicate", "silence"]
    assert [r.effect for r in inj.stream_rules("crypto")] == ["duplicate", "silence"]
    assert [r.effect for r in inj.stream_rules("trade_updates")] == ["silence", "reorder"]
    assert [r.effect for r in inj.stream_rules("test", "silence")] == ["silence"]
    # stream_rules does not consume counts; roll does.
    rule = inj.stream_rules("sip", "duplicate")[0]
    assert inj.stream_rules("sip", "duplicate") == [rule]
    assert inj.stream_rules("sip", "duplicate")[0] is rule  # stable identity for callers
    assert inj.roll(rule) is True
    assert inj.roll(rule) is False
    assert inj.stream_rules("sip", "duplicate") == []


def test_clear_removes_everything() -> None:
    inj, _ = injector([{"match": {}, "effect": "reset"}])
    assert inj.active
    inj.clear()
    assert not inj.active
    assert inj.http_faults("GET", "/") == []
    assert inj.snapshot()["rules"] == []


def test_snapshot_reports_rules_and_age() -> None:
    inj, clock = injector([{"match": {"path": "/v2/clock"}, "effect": "status", "status": 503,
                            "retry_after": 2, "body": {"code": 1, "message": "x"}}])  # fmt: skip
    clock.now += 3.5
    inj.http_faults("GET", "/v2/clock")
    snap = inj.snapshot()
    assert snap["active"] is True
    assert snap["seed"] == 7
    assert snap["age_seconds"] == 3.5
    assert snap["rules"] == [
        {
            "match": {"path": "/v2/clock"},
            "effect": "status",
            "status": 503,
            "retry_after": 2.0,
            "body": {"code": 1, "message": "x"},
            "fired": 1,
        }
    ]


def test_rule_is_frozen() -> None:
    rule = FaultRule(effect="reset")
    with pytest.raises(AttributeError):
        rule.effect = "hang"  # type: ignore[misc]
