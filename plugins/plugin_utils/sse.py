# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""Server-sent events: an incremental parser (WHATWG event-stream rules) and the judgement of a stream.

Pure: bytes in, events out. The network part is in ``sse_client``.
"""
from __future__ import annotations

import codecs
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    """One dispatched event: its type (``message`` when the stream named none), data and last id."""

    event: str = "message"
    data: str = ""
    id: str = ""


@dataclass
class SSEParser:
    """Feed bytes in any chunking; each ``feed`` returns the events completed by that chunk.

    Lines end with CRLF, LF or CR (a CR at the end of a chunk waits for the next one, which may
    start with its LF); a blank line dispatches; ``:`` starts a comment; a field without a colon
    has an empty value; one space after the colon is dropped; a leading BOM is ignored; an event
    without data is not dispatched. ``retry`` is kept as the reconnection time in ms.
    """

    last_id: str = ""
    retry_ms: int | None = None
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace"))
    _buffer: str = ""
    _started: bool = False
    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _has_data: bool = False

    def feed(self, chunk: bytes) -> list[Event]:
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        return self._lines(self._buffer + text)

    def close(self) -> list[Event]:
        """End of stream: a line held back for its CR is processed; an unfinished line or event is dropped."""
        rest = self._buffer + self._decoder.decode(b"", final=True)
        self._buffer = ""
        return self._lines(rest + "\n") if rest.endswith("\r") else []

    def _lines(self, text: str) -> list[Event]:
        events: list[Event] = []
        start = 0
        index = 0
        length = len(text)
        while index < length:
            char = text[index]
            if char == "\r":
                if index + 1 == length:
                    break  # a CR that may be the first half of a CRLF split between chunks
                end = index + 2 if text[index + 1] == "\n" else index + 1
            elif char == "\n":
                end = index + 1
            else:
                index += 1
                continue
            event = self._line(text[start:index])
            if event is not None:
                events.append(event)
            start = index = end
        self._buffer = text[start:]
        return events

    def _line(self, line: str) -> Event | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> Event | None:
        event = Event(self._event or "message", "\n".join(self._data), self.last_id) if self._has_data else None
        self._event, self._data, self._has_data = "", [], False
        return event


def parse(chunks: Iterable[bytes]) -> list[Event]:
    """Every event of a whole stream given in chunks."""
    parser = SSEParser()
    events: list[Event] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    events.extend(parser.close())
    return events


def serialise(event: Event) -> str:
    """An event as a server would write it (the inverse of the parser, for tests and fixtures)."""
    lines = [f"event: {event.event}"] if event.event != "message" else []
    if event.id:
        lines.append(f"id: {event.id}")
    lines.extend(f"data: {line}" for line in event.data.split("\n"))
    return "\n".join(lines) + "\n\n"


@dataclass
class StreamResult:
    """What reading a stream saw: HTTP status, content type, events, timings and why it stopped."""

    status: int | None
    content_type: str
    events: list[Event]
    first_event_ms: float | None
    elapsed_ms: float
    stopped: str  # "count" (got what was asked), "deadline", "eof" (the server closed), "error"
    error: str | None = None


def judge_stream(result: StreamResult, *, events: int, expect_status: list[int],
                 event_names: list[str], first_event_max_ms: float | None, deadline_ms: float) -> list[str]:
    """Every way the stream missed its expectations, as sentences; empty when it passed."""
    if result.status is None:
        return [f"request failed: {result.error}"]
    if result.status not in expect_status:
        return [f"status {result.status}, expected {' or '.join(map(str, expect_status))}"]
    media = result.content_type.split(";")[0].strip().lower()
    if media != "text/event-stream":
        return [f"content type {result.content_type or '(none)'!r}, expected text/event-stream"]
    failures: list[str] = []
    if len(result.events) < events:
        why = {"deadline": f"within the {deadline_ms:g} ms deadline",
               "eof": "before the server closed the stream",
               "error": f"before an error ({result.error})"}.get(result.stopped, "")
        failures.append(f"{len(result.events)} of {events} events {why}".rstrip())
    unexpected = sorted({e.event for e in result.events[:events]} - set(event_names)) if event_names else []
    if unexpected:
        failures.append(f"event names {unexpected}, expected only {sorted(event_names)}")
    if first_event_max_ms is not None and result.first_event_ms is not None \
            and result.first_event_ms > first_event_max_ms:
        failures.append(f"first event after {result.first_event_ms} ms, over {first_event_max_ms:g} ms")
    return failures


def names_in_order(events: Iterable[Event]) -> list[str]:
    """Distinct event names in the order they first appeared."""
    return list(dict.fromkeys(e.event for e in events))
