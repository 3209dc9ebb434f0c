"""Monitoring: connection health and preservation mode (:mod:`.health`)."""

from pulsetrader.monitoring.health import (
    HEALTH_ACTOR,
    ConnectionHealthMonitor,
    HealthJournal,
    HealthPolicy,
    HealthState,
    HealthTransition,
    LatencyStats,
    StreamHealth,
    TransitionListener,
    describe_call,
    is_health_failure,
)

__all__ = [
    "HEALTH_ACTOR",
    "ConnectionHealthMonitor",
    "HealthJournal",
    "HealthPolicy",
    "HealthState",
    "HealthTransition",
    "LatencyStats",
    "StreamHealth",
    "TransitionListener",
    "describe_call",
    "is_health_failure",
]
