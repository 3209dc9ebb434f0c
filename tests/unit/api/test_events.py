"""The event hub's fan-out: every subscriber gets every event, a laggard is cut off, closing
ends every stream; and the SSE framing."""

from __future__ import annotations

import json
from typing import Any, cast

from pulsetrader.api.events import EventHub, sse


def hub(queue_size: int = 10) -> EventHub:
    return EventHub(cast(Any, None), queue_size=queue_size)  # no engine: attach() is not called


def drain(subscriber) -> list[tuple[str, dict]]:
    items = []
    while not subscriber.queue.empty():
        items.append(subscriber.queue.get_nowait())
    return items


async def test_every_subscriber_gets_every_event() -> None:
    h = hub()
    first, second = h.subscribe(), h.subscribe()
    h.publish("order", {"id": 1})
    h.publish("fill", {"id": 2})
    assert drain(first) == drain(second) == [("order", {"id": 1}), ("fill", {"id": 2})]


async def test_a_subscriber_that_falls_behind_is_cut_off() -> None:
    h = hub(queue_size=3)
    slow, fast = h.subscribe(), h.subscribe()
    for n in range(3):
        h.publish("order", {"n": n})
    drain(fast)
    h.publish("order", {"n": 3})
    assert slow.ended
    assert slow not in h.subscribers
    assert drain(slow)[-1] == ("", {})  # the end marker after what it had
    assert drain(fast) == [("order", {"n": 3})]


async def test_close_ends_every_stream_and_later_ones() -> None:
    h = hub()
    subscriber = h.subscribe()
    h.close()
    assert drain(subscriber) == [("", {})]
    late = h.subscribe()
    assert late.ended
    assert drain(late) == [("", {})]
    h.publish("order", {})  # nobody left: nothing happens
    assert h.subscribers == set()


async def test_unsubscribe_stops_delivery() -> None:
    h = hub()
    subscriber = h.subscribe()
    h.unsubscribe(subscriber)
    h.publish("order", {})
    assert drain(subscriber) == []


def test_an_event_is_one_data_line_of_json() -> None:
    text = sse("status", {"note": "two\nlines", "amount": "1.5"})
    assert text.endswith("\n\n")
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "event: status"
    assert len(lines) == 2
    assert json.loads(lines[1].removeprefix("data: ")) == {"note": "two\nlines", "amount": "1.5"}
