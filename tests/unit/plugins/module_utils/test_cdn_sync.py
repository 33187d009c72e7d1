"""The CDN deploy's pure decisions: cache headers per path, the upload plan, and the invalidation wait.

moto completes an invalidation at once, so the in-progress path of the wait is tested here, with a fake
status source and a fake clock (no sleeping).
"""
from __future__ import annotations

import pytest

from ansible_collections.liftoff.release.plugins.module_utils._cdn import (
    LocalFile,
    RemoteObject,
    cache_control_for,
    content_type_for,
    join_key,
    next_wait_step,
    plan,
    same_after_head,
    suspects,
    wait_for,
)

RULES = [{"pattern": "*.html", "value": "no-cache"}, {"pattern": "assets/*", "value": "public, max-age=31536000"}]


@pytest.mark.parametrize(("path", "value"), [
    ("index.html", "no-cache"),
    ("docs/deep/page.html", "no-cache"),  # * spans directories
    ("assets/app.123.js", "public, max-age=31536000"),
    ("assets/sub/font.woff2", "public, max-age=31536000"),
    ("assets/x.html", "no-cache"),  # the first matching rule wins
    ("robots.txt", "max-age=60"),
])
def test_cache_control_first_matching_rule_else_default(path: str, value: str) -> None:
    assert cache_control_for(path, RULES, "max-age=60") == value


def test_content_types() -> None:
    assert content_type_for("a/app.js") == "text/javascript"
    assert content_type_for("f.woff2") == "font/woff2"
    assert content_type_for("index.html") == "text/html"
    assert content_type_for("blob.unknownext") == "application/octet-stream"


def test_join_key() -> None:
    assert join_key("", "a/b.js") == "a/b.js"
    assert join_key("/site/", "/a/b.js") == "site/a/b.js"


def lf(key: str, md5: str = "m", size: int = 1) -> LocalFile:
    return LocalFile(rel=key, key=key, md5=md5, bytes=size, cache_control="no-cache", content_type="text/html")


def test_plan_new_changed_unchanged_deleted() -> None:
    local = [lf("index.html", "new"), lf("same.css", "s"), lf("added.js", "a")]
    remote = {"index.html": RemoteObject("index.html", '"old"', 1), "same.css": RemoteObject("same.css", '"s"', 1),
              "gone.js": RemoteObject("gone.js", '"g"', 1)}
    result = plan(local, remote, delete=True).to_dict()
    assert result["new"] == ["added.js"] and result["changed"] == ["index.html"]
    assert result["unchanged"] == ["same.css"] and result["delete"] == ["gone.js"] and result["kept"] == []
    assert result["previous"] == ["gone.js", "index.html"]
    assert [(u["key"], u["existed"]) for u in result["upload"]] == [("added.js", False), ("index.html", True)]
    assert result["upload_bytes"] == 2
    kept = plan(local, remote, delete=False).to_dict()
    assert kept["delete"] == [] and kept["kept"] == ["gone.js"] and kept["previous"] == ["index.html"]


def test_a_multipart_etag_is_confirmed_by_the_objects_metadata() -> None:
    local = lf("big.js", "abc")
    remote = {"big.js": RemoteObject("big.js", '"abc-2"', 1)}
    assert suspects([local], remote) == [local]
    head = {"Metadata": {"liftoff-md5": "abc"}, "CacheControl": "no-cache", "ContentType": "text/html"}
    assert same_after_head(local, head)
    assert not same_after_head(local, head | {"CacheControl": "max-age=1"})  # the rules changed: upload again
    assert plan([local], remote, delete=False, confirmed_same=["big.js"]).to_dict()["unchanged"] == ["big.js"]


@pytest.mark.parametrize(("status", "elapsed", "action", "seconds"), [
    ("Completed", 0, "done", 0),
    ("Completed", 1000, "done", 0),
    ("COMPLETED", 5, "done", 0),  # moto's spelling  # completed at the last read counts, even past the bound
    ("InProgress", 0, "sleep", 10),
    ("InProgress", 95, "sleep", 5),  # never sleeps past the bound
    ("InProgress", 100, "timeout", 0),
])
def test_next_wait_step(status: str, elapsed: float, action: str, seconds: float) -> None:
    step = next_wait_step(status, elapsed, timeout=100, poll=10)
    assert (step.action, step.seconds) == (action, seconds)


class FakeCloudFront:
    """Statuses in order (the last repeats), on a clock that only moves when the waiter sleeps."""

    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.reads = 0
        self.now = 1000.0
        self.sleeps: list[float] = []

    def read(self) -> str:
        status = self.statuses[min(self.reads, len(self.statuses) - 1)]
        self.reads += 1
        return status

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_polls_through_in_progress_until_completed() -> None:
    fake = FakeCloudFront(["InProgress", "InProgress", "InProgress", "Completed"])
    outcome = wait_for(fake.read, 60, 5, fake.clock, fake.sleep)
    assert outcome.completed and not outcome.timed_out and outcome.status == "Completed"
    assert outcome.polls == 4 and fake.sleeps == [5, 5, 5] and outcome.waited == 15
    assert [s["status"] for s in outcome.seen] == ["InProgress"] * 3 + ["Completed"]
    assert [s["at_s"] for s in outcome.seen] == [0, 5, 10, 15]


def test_wait_gives_up_at_the_bound_without_sleeping_past_it() -> None:
    fake = FakeCloudFront(["InProgress"])
    outcome = wait_for(fake.read, 12, 5, fake.clock, fake.sleep)
    assert outcome.timed_out and not outcome.completed and outcome.status == "InProgress"
    assert fake.sleeps == [5, 5, 2] and outcome.waited == 12 and outcome.polls == 4


def test_timeout_zero_reads_once_and_does_not_wait() -> None:
    fake = FakeCloudFront(["InProgress"])
    outcome = wait_for(fake.read, 0, 5, fake.clock, fake.sleep)
    assert outcome.polls == 1 and fake.sleeps == [] and outcome.timed_out
    done = FakeCloudFront(["Completed"])
    assert wait_for(done.read, 0, 5, done.clock, done.sleep).completed
