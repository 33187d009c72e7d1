"""The SSE parser (WHATWG event-stream rules, any chunking) and the judgement of a stream."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.liftoff.release.plugins.plugin_utils.sse import (
    Event,
    SSEParser,
    StreamResult,
    judge_stream,
    names_in_order,
    parse,
    serialise,
)


@pytest.mark.parametrize(("stream", "events"), [
    (b"data: hello\n\n", [Event("message", "hello")]),
    (b"event: tick\nid: 7\ndata: {\"n\": 1}\n\n", [Event("tick", '{"n": 1}', "7")]),
    (b"data: a\ndata: b\n\n", [Event("message", "a\nb")]),
    (b"data:no-space\n\n", [Event("message", "no-space")]),
    (b"data:  two spaces\n\n", [Event("message", " two spaces")]),
    (b": comment\n\n", []),
    (b"event: lonely\n\n", []),  # no data: not dispatched, and the name does not leak into the next
    (b"event: lonely\n\ndata: x\n\n", [Event("message", "x")]),
    (b"data\n\n", [Event("message", "")]),  # a field without a colon has an empty value
    (b"data: crlf\r\n\r\n", [Event("message", "crlf")]),
    (b"data: cr\r\rdata: next\r\r", [Event("message", "cr"), Event("message", "next")]),
    (b"\xef\xbb\xbfdata: bom\n\n", [Event("message", "bom")]),
    (b"id: 1\ndata: a\n\ndata: b\n\n", [Event("message", "a", "1"), Event("message", "b", "1")]),
    (b"id: x\x00y\ndata: a\n\n", [Event("message", "a", "")]),  # an id with NUL is ignored
    (b"unknown: field\ndata: a\n\n", [Event("message", "a")]),
    (b"data: unfinished", []),  # the stream ended inside an event: dropped
    (b"data: ends with cr\r\r", [Event("message", "ends with cr")]),  # a CR held back, processed at the end
    ("data: caf\u00e9 \u2713\n\n".encode(), [Event("message", "caf\u00e9 \u2713")]),
])
def test_parse(stream: bytes, events: list[Event]) -> None:
    assert parse([stream]) == events


def test_retry_is_kept_only_when_digits() -> None:
    parser = SSEParser()
    parser.feed(b"retry: 1500\n\nretry: soon\n\n")
    assert parser.retry_ms == 1500


def test_a_crlf_split_between_chunks_is_one_line_end() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n\r") == []
    assert parser.feed(b"\n") == [Event("message", "a")]


def test_a_character_split_between_chunks() -> None:
    data = "data: \u2713\n\n".encode()
    assert parse([data[:7], data[7:]]) == [Event("message", "\u2713")]


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=20)
_EVENTS = st.lists(st.builds(
    Event,
    event=st.one_of(st.just("message"), st.from_regex(r"[a-z][a-z_]{0,9}", fullmatch=True)),
    data=st.lists(_TEXT, min_size=1, max_size=3).map("\n".join),
    id=st.one_of(st.just(""), st.from_regex(r"[0-9a-z]{1,6}", fullmatch=True)),
), max_size=6)


def _with_last_ids(events: list[Event]) -> list[Event]:
    """An event without an id carries the last id seen (the stream's, not the event's)."""
    out, last = [], ""
    for event in events:
        last = event.id or last
        out.append(Event(event.event, event.data, last))
    return out


@settings(max_examples=300, deadline=None)
@given(events=_EVENTS, cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
       newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_any_chunking_gives_the_same_events(events: list[Event], cuts: list[int], newline: str) -> None:
    stream = "".join(serialise(e) for e in events).replace("\n", newline).encode("utf-8")
    points = sorted({min(c, len(stream)) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert parse([stream]) == _with_last_ids(events)
    assert parse(chunks) == _with_last_ids(events)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), cut=st.integers(min_value=0, max_value=300))
def test_arbitrary_bytes_never_crash_and_chunking_does_not_matter(data: bytes, cut: int) -> None:
    assert parse([data[:cut], data[cut:]]) == parse([data])


def result(**kw: object) -> StreamResult:
    base: dict[str, object] = {"status": 200, "content_type": "text/event-stream; charset=utf-8",
                               "events": [Event("tick", "1")] * 3, "first_event_ms": 50.0, "elapsed_ms": 200.0,
                               "stopped": "count"}
    base.update(kw)
    return StreamResult(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("stream", "kw", "failures"), [
    (result(), {}, []),
    (result(), {"event_names": ["tick"], "first_event_max_ms": 50}, []),
    (result(status=None, error="ConnectionRefusedError: refused"), {}, ["request failed: ConnectionRefusedError: refused"]),
    (result(status=401, events=[]), {}, ["status 401, expected 200"]),
    (result(content_type="application/json", events=[]), {}, [
        "content type 'application/json', expected text/event-stream"]),
    (result(content_type="", events=[]), {}, ["content type '(none)', expected text/event-stream"]),
    (result(events=[Event("tick", "1")], stopped="deadline"), {}, ["1 of 3 events within the 2000 ms deadline"]),
    (result(events=[], stopped="eof", first_event_ms=None), {}, ["0 of 3 events before the server closed the stream"]),
    (result(events=[Event("tick", "1"), Event("error", "x"), Event("tick", "2")]), {"event_names": ["tick"]},
     ["event names ['error'], expected only ['tick']"]),
    (result(first_event_ms=612.5), {"first_event_max_ms": 500}, ["first event after 612.5 ms, over 500 ms"]),
])
def test_judge_stream(stream: StreamResult, kw: dict[str, object], failures: list[str]) -> None:
    args: dict[str, object] = {"events": 3, "expect_status": [200], "event_names": [], "first_event_max_ms": None,
                               "deadline_ms": 2000.0}
    args.update(kw)
    assert judge_stream(stream, **args) == failures  # type: ignore[arg-type]


def test_names_in_order() -> None:
    assert names_in_order([Event("b"), Event("a"), Event("b"), Event("message")]) == ["b", "a", "message"]
