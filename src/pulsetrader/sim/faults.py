"""Fault injection: make the simulator misbehave the way a real exchange connection does.

A :class:`FaultProfile` is a list of rules loaded from JSON (``--faults FILE`` or
``PUT /sim/faults``). HTTP rules match requests by method and path and answer with an error
status, add latency, hang, lose the response after processing (``drop_response``: the order
exists but the client never hears so) or reset the connection. Stream rules disconnect,
silence, duplicate or reorder WebSocket traffic.

:class:`FaultInjector` is the live state: which rules are active (their time window is measured
from when the profile was loaded), how often each has fired (``count``), and a seeded random
generator for ``probability``, so a profile with a seed misbehaves identically on every run.
The HTTP middleware calls :meth:`FaultInjector.http_faults` once per request; the streams call
:meth:`FaultInjector.stream_rules` and :meth:`FaultInjector.roll` per connection or message.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HTTP_EFFECTS = frozenset({"status", "latency", "hang", "drop_response", "reset"})
STREAM_EFFECTS = frozenset({"disconnect", "silence", "duplicate", "reorder"})
STREAM_NAMES = frozenset({"iex", "sip", "test", "crypto", "trade_updates", "data", "*"})
#: The market-data streams that the stream name ``"data"`` stands for.
DATA_STREAMS = frozenset({"iex", "sip", "test", "crypto"})

_MATCH_KEYS = frozenset({"method", "path", "path_prefix", "path_regex"})
_RULE_KEYS = frozenset(
    {
        "match",
        "stream",
        "effect",
        "probability",
        "count",
        "start_seconds",
        "end_seconds",
        "status",
        "retry_after",
        "body",
        "ms",
        "seconds",
        "every_seconds",
        "at_seconds",
        "after_seconds",
        "duration_seconds",
    }
)


@dataclass(frozen=True, slots=True)
class FaultRule:
    """One rule of a profile. Immutable: how often it has fired lives in the injector.

    ``index`` is the rule's position in its profile; it keeps two identical rules distinct.
    """

    effect: str
    probability: float = 1.0
    count: int | None = None
    match_method: str | None = None
    match_path: str | None = None
    match_path_prefix: str | None = None
    match_path_regex: str | None = None
    stream: str | None = None
    status: int | None = None
    retry_after: float | None = None
    ms: float | None = None
    seconds: float | None = None
    every_seconds: float | None = None
    at_seconds: tuple[float, ...] | None = None
    after_seconds: float | None = None
    duration_seconds: float | None = None
    start_seconds: float | None = None
    end_seconds: float | None = None
    body: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)
    index: int = 0

    @property
    def is_http(self) -> bool:
        """True for request rules, False for stream rules."""
        return self.effect in HTTP_EFFECTS

    def matches_request(self, method: str, path: str) -> bool:
        """Whether this HTTP rule applies to ``method path`` (all given match keys must hold)."""
        if not self.is_http:
            return False
        if self.match_method is not None and self.match_method != method.upper():
            return False
        if self.match_path is not None and self.match_path != path:
            return False
        if self.match_path_prefix is not None and not path.startswith(self.match_path_prefix):
            return False
        return self.match_path_regex is None or re.search(self.match_path_regex, path) is not None

    def matches_stream(self, stream: str) -> bool:
        """Whether this stream rule applies to the stream named ``stream`` (e.g. ``iex``)."""
        if self.is_http or self.stream is None:
            return False
        if self.stream == "*" or self.stream == stream:
            return True
        return self.stream == "data" and stream in DATA_STREAMS

    def in_window(self, age: float) -> bool:
        """Whether the rule is active ``age`` seconds after its profile was loaded."""
        if self.start_seconds is not None and age < self.start_seconds:
            return False
        return self.end_seconds is None or age < self.end_seconds

    def to_dict(self) -> dict[str, Any]:
        """The rule in profile JSON form (only the keys that are set)."""
        out: dict[str, Any] = {}
        match = {
            key: value
            for key, value in (
                ("method", self.match_method),
                ("path", self.match_path),
                ("path_prefix", self.match_path_prefix),
                ("path_regex", self.match_path_regex),
            )
            if value is not None
        }
        if self.is_http:
            out["match"] = match
        else:
            out["stream"] = self.stream
        out["effect"] = self.effect
        if self.probability != 1.0:
            out["probability"] = self.probability
        for name in (
            "count",
            "status",
            "retry_after",
            "ms",
            "seconds",
            "every_seconds",
            "after_seconds",
            "duration_seconds",
            "start_seconds",
            "end_seconds",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.at_seconds is not None:
            out["at_seconds"] = list(self.at_seconds)
        if self.body is not None:
            out["body"] = dict(self.body)
        return out


def _number(rule: Mapping[str, Any], key: str, where: str, *, minimum: float = 0.0) -> float | None:
    value = rule.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: {key!r} must be a number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {key!r} must be >= {minimum:g}, got {value!r}")
    return float(value)


def _require(value: object, key: str, where: str, effect: str) -> None:
    if value is None:
        raise ValueError(f"{where}: effect {effect!r} requires {key!r}")


def _parse_match(raw: object, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: 'match' must be an object")
    unknown = set(raw) - _MATCH_KEYS
    if unknown:
        raise ValueError(
            f"{where}: unknown match key(s) {sorted(unknown)}; allowed: {sorted(_MATCH_KEYS)}"
        )
    out: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"{where}: match {key!r} must be a non-empty string")
        out[key] = value
    if "path_regex" in out:
        try:
            re.compile(out["path_regex"])
        except re.error as exc:
            raise ValueError(f"{where}: invalid path_regex: {exc}") from None
    return out


def _parse_rule(raw: object, index: int) -> FaultRule:
    where = f"rule {index}"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be an object")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
    effect = raw.get("effect")
    if not isinstance(effect, str) or effect not in HTTP_EFFECTS | STREAM_EFFECTS:
        allowed = sorted(HTTP_EFFECTS | STREAM_EFFECTS)
        raise ValueError(f"{where}: 'effect' must be one of {allowed}, got {effect!r}")
    stream = raw.get("stream")
    if effect in HTTP_EFFECTS:
        if stream is not None:
            raise ValueError(f"{where}: HTTP effect {effect!r} cannot have a 'stream'")
    elif stream not in STREAM_NAMES:
        raise ValueError(
            f"{where}: stream effect {effect!r} needs 'stream' in {sorted(STREAM_NAMES)}"
        )
    elif "match" in raw:
        raise ValueError(f"{where}: stream effect {effect!r} cannot have a 'match'")
    match = _parse_match(raw.get("match"), where)

    probability = _number(raw, "probability", where)
    if probability is not None and probability > 1:
        raise ValueError(f"{where}: 'probability' must be between 0 and 1")
    count = raw.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise ValueError(f"{where}: 'count' must be a non-negative integer")
    status = raw.get("status")
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
    ):
        raise ValueError(f"{where}: 'status' must be an HTTP status code, got {status!r}")
    body = raw.get("body")
    if body is not None and not isinstance(body, Mapping):
        raise ValueError(f"{where}: 'body' must be an object")
    at_raw = raw.get("at_seconds")
    at_seconds: tuple[float, ...] | None = None
    if at_raw is not None:
        if not isinstance(at_raw, Sequence) or isinstance(at_raw, str):
            raise ValueError(f"{where}: 'at_seconds' must be a list of numbers")
        values: list[float] = []
        for item in at_raw:
            if isinstance(item, bool) or not isinstance(item, int | float) or item < 0:
                raise ValueError(f"{where}: 'at_seconds' must hold non-negative numbers")
            values.append(float(item))
        at_seconds = tuple(sorted(values))

    rule = FaultRule(
        effect=effect,
        probability=1.0 if probability is None else probability,
        count=count,
        match_method=match.get("method", "").upper() or None,
        match_path=match.get("path"),
        match_path_prefix=match.get("path_prefix"),
        match_path_regex=match.get("path_regex"),
        stream=stream,
        status=status,
        retry_after=_number(raw, "retry_after", where),
        ms=_number(raw, "ms", where),
        seconds=_number(raw, "seconds", where),
        every_seconds=_number(raw, "every_seconds", where),
        at_seconds=at_seconds,
        after_seconds=_number(raw, "after_seconds", where),
        duration_seconds=_number(raw, "duration_seconds", where),
        start_seconds=_number(raw, "start_seconds", where),
        end_seconds=_number(raw, "end_seconds", where),
        body=None if body is None else dict(body),
        index=index,
    )
    # Effect-specific requirements, so a typo fails at load time and not silently at runtime.
    if effect == "status":
        _require(rule.status, "status", where, effect)
    elif effect == "latency":
        _require(rule.ms, "ms", where, effect)
    elif effect == "hang":
        _require(rule.seconds, "seconds", where, effect)
    elif effect == "disconnect":
        if rule.every_seconds is None and rule.at_seconds is None:
            raise ValueError(f"{where}: 'disconnect' requires 'every_seconds' or 'at_seconds'")
        if rule.every_seconds == 0:
            raise ValueError(f"{where}: 'every_seconds' must be positive")
    elif effect == "silence":
        _require(rule.duration_seconds, "duration_seconds", where, effect)
    return rule


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """A parsed, validated fault profile: a random seed and the rules in order."""

    seed: int | None = None
    rules: tuple[FaultRule, ...] = ()

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> FaultProfile:
        """Validate profile JSON; ValueError names the offending rule and key."""
        if not isinstance(data, Mapping):
            raise ValueError("a fault profile must be a JSON object with a 'rules' list")
        unknown = set(data) - {"seed", "rules"}
        if unknown:
            raise ValueError(f"unknown profile key(s) {sorted(unknown)}; allowed: seed, rules")
        seed = data.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"'seed' must be an integer, got {seed!r}")
        rules = data.get("rules", [])
        if not isinstance(rules, list):
            raise ValueError("'rules' must be a list")
        return cls(seed=seed, rules=tuple(_parse_rule(raw, i) for i, raw in enumerate(rules)))

    @classmethod
    def load(cls, path: Path | str) -> FaultProfile:
        """Read and parse a profile file; ValueError (with the path) for bad JSON or rules."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from None
        try:
            return cls.parse(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The profile in its JSON form."""
        return {"seed": self.seed, "rules": [rule.to_dict() for rule in self.rules]}


class FaultInjector:
    """The active fault profile and its state: load time, per-rule fire counts, seeded RNG.

    ``monotonic`` is injectable so tests can move time without sleeping.
    """

    def __init__(
        self,
        profile: FaultProfile | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._profile = FaultProfile()
        self._loaded_at = monotonic()
        self._fired: dict[int, int] = {}
        self._random = random.Random(0)  # noqa: S311 - fault dice, not cryptography
        if profile is not None:
            self.load(profile)

    @property
    def profile(self) -> FaultProfile:
        """The loaded profile (empty when none)."""
        return self._profile

    @property
    def active(self) -> bool:
        """True when any rule is loaded."""
        return bool(self._profile.rules)

    def load(self, profile: FaultProfile) -> None:
        """Replace the profile; windows restart from now, counts from zero, RNG from the seed."""
        self._profile = profile
        self._loaded_at = self._monotonic()
        self._fired = {}
        self._random = random.Random(profile.seed)  # noqa: S311

    def clear(self) -> None:
        """Remove every rule."""
        self.load(FaultProfile())

    def age(self) -> float:
        """Seconds since the profile was loaded (rule windows are measured from here)."""
        return self._monotonic() - self._loaded_at

    def _available(self, rule: FaultRule, age: float) -> bool:
        if not rule.in_window(age):
            return False
        return rule.count is None or self._fired.get(rule.index, 0) < rule.count

    def roll(self, rule: FaultRule) -> bool:
        """Decide whether ``rule`` fires now: window, remaining count, then probability.

        A fire consumes one of the rule's ``count``.
        """
        if not self._available(rule, self.age()):
            return False
        # Probability 1 (the default) does not draw, so adding a certain rule to a profile does
        # not shift the random sequence seen by the probabilistic ones.
        if rule.probability < 1.0 and self._random.random() >= rule.probability:
            return False
        self._fired[rule.index] = self._fired.get(rule.index, 0) + 1
        return True

    def http_faults(self, method: str, path: str) -> list[FaultRule]:
        """The HTTP rules that fire for this request, in profile order (dice rolled now)."""
        return [
            rule
            for rule in self._profile.rules
            if rule.matches_request(method, path) and self.roll(rule)
        ]

    def stream_rules(self, stream: str, effect: str | None = None) -> list[FaultRule]:
        """The active rules for the stream named ``stream``, optionally of one effect.

        Nothing is rolled: streams call :meth:`roll` when the moment comes. The same rule objects
        are returned on every call, so callers may key per-connection state by rule.
        """
        age = self.age()
        return [
            rule
            for rule in self._profile.rules
            if rule.matches_stream(stream)
            and (effect is None or rule.effect == effect)
            and self._available(rule, age)
        ]

    def snapshot(self) -> dict[str, Any]:
        """The profile with each rule's fire count, for ``GET /sim/faults``."""
        rules = []
        for rule in self._profile.rules:
            row = rule.to_dict()
            row["fired"] = self._fired.get(rule.index, 0)
            rules.append(row)
        return {
            "active": self.active,
            "seed": self._profile.seed,
            "age_seconds": round(self.age(), 3),
            "rules": rules,
        }
