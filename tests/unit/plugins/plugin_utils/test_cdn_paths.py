"""What a CDN deploy invalidates: changed keys to paths, collapsed into wildcards within CloudFront's limits."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.liftoff.release.plugins.plugin_utils.cdn import (
    CdnPathsError,
    ancestors,
    collapse,
    config_errors,
    invalidation_paths,
    path_for_key,
    paths_for_change,
)


def covers(result: list[str], path: str) -> bool:
    return any(path == r or (r.endswith("*") and path.startswith(r[:-1])) for r in result)


def test_path_for_key_strips_the_prefix_and_encodes_unsafe_characters() -> None:
    assert path_for_key("site/assets/app.js", "site") == "/assets/app.js"
    assert path_for_key("site/assets/app.js", "/site/") == "/assets/app.js"
    assert path_for_key("index.html") == "/index.html"
    assert path_for_key("a b/c*d#e.html") == "/a%20b/c%2Ad%23e.html"  # never a wildcard by accident


def test_an_index_document_is_also_its_directory() -> None:
    assert invalidation_paths(["index.html", "docs/index.html", "docs/a.html"], index_document="index.html") == [
        "/", "/docs/", "/docs/a.html", "/docs/index.html", "/index.html"]
    assert invalidation_paths(["index.html"]) == ["/index.html"]


def test_ancestors() -> None:
    assert ancestors("/a/b/c.js") == ["/", "/a/", "/a/b/"]
    assert ancestors("/a/") == ["/", "/a/"]
    assert ancestors("/x.js") == ["/"]


def test_exact_paths_are_kept_when_they_fit_and_nothing_says_a_directory_changed_whole() -> None:
    paths = ["/index.html", "/assets/a.js", "/assets/b.js"]
    assert collapse(paths) == sorted(paths)
    assert collapse([]) == []


def test_a_directory_whose_every_object_changed_becomes_one_wildcard() -> None:
    universe = ["/index.html", "/docs/a.html", "/docs/b.html", "/assets/a.js", "/assets/b.js"]
    assert collapse(["/docs/a.html", "/docs/b.html", "/assets/a.js"], universe) == ["/assets/a.js", "/docs/*"]
    # everything changed: one wildcard for the lot
    assert collapse(universe, universe) == ["/*"]


def test_over_the_limit_the_directory_with_the_fewest_unchanged_objects_is_collapsed() -> None:
    changed = [f"/assets/{i}.js" for i in range(5)] + [f"/img/{i}.png" for i in range(5)] + ["/index.html"]
    universe = changed + [f"/img/{i}.png" for i in range(5, 100)] + ["/assets/old.js"]
    # 11 paths, at most 8: /assets/* (one unchanged object under it) rather than /img/* (95)
    assert collapse(changed, universe, max_paths=8) == sorted(
        ["/assets/*", "/index.html"] + [f"/img/{i}.png" for i in range(5)])


def test_wildcards_merge_into_their_parent_when_the_wildcard_budget_runs_out() -> None:
    changed = [f"/a/{d}/{i}.js" for d in "pqrs" for i in range(3)]
    result = collapse(changed, max_paths=3, max_wildcards=1)
    assert result == ["/a/*"]


def test_nothing_fits_so_everything_is_invalidated() -> None:
    assert collapse([f"/{i}.js" for i in range(10)], max_paths=5) == ["/*"]


def test_limits_must_allow_something() -> None:
    with pytest.raises(CdnPathsError):
        collapse(["/a"], max_paths=0)
    with pytest.raises(CdnPathsError):
        collapse(["/a"], max_wildcards=0)


def test_paths_for_change_end_to_end() -> None:
    keys = ["site/index.html", "site/docs/a.html", "site/docs/b.html"]
    universe = [*keys, "site/assets/app.js"]
    assert paths_for_change(keys, "site", universe, "index.html") == ["/", "/docs/*", "/index.html"]


segment = st.sampled_from(["a", "b", "c", "assets", "img", "x y"])
key = st.lists(segment, min_size=0, max_size=3).flatmap(
    lambda dirs: st.sampled_from(["i.html", "1.js", "2.css", "3.png"]).map(lambda f: "/".join([*dirs, f])))


@settings(max_examples=300, deadline=None)
@given(changed=st.lists(key, max_size=60, unique=True), extra=st.lists(key, max_size=60),
       max_paths=st.integers(1, 40), max_wildcards=st.integers(1, 15), with_universe=st.booleans())
def test_collapse_covers_every_changed_path_within_the_limits(changed: list[str], extra: list[str], max_paths: int,
                                                              max_wildcards: int, with_universe: bool) -> None:
    paths = invalidation_paths(changed, index_document="i.html")
    universe = invalidation_paths(changed + extra, index_document="i.html") if with_universe else None
    result = collapse(paths, universe, max_paths, max_wildcards)
    assert len(result) <= max_paths
    assert sum(r.endswith("*") for r in result) <= max_wildcards
    assert all(covers(result, p) for p in paths)
    assert result == sorted(set(result))
    # nothing redundant: no entry is covered by another wildcard
    for entry in result:
        assert not any(w != entry and w.endswith("*") and entry.startswith(w[:-1]) for w in result)
    if not with_universe and len(paths) <= max_paths:
        assert result == paths  # fits: only what changed, exactly
    if with_universe and len(paths) <= max_paths:
        # a wildcard that fits is lossless: it covers nothing that did not change
        unchanged = set(universe or []) - set(paths)
        assert not any(covers([w], u) for w in result if w.endswith("*") for u in unchanged)


GOOD = {"cdn_build_dir": "/srv/dist", "cdn_bucket": "site", "cdn_prefix": "", "cdn_backup_prefix": "_liftoff/cdn",
        "cdn_cache_control": [{"pattern": "*.html", "value": "no-cache"}], "cdn_cache_control_default": "max-age=60",
        "cdn_invalidation_timeout": 600, "cdn_invalidation_poll": 5, "cdn_invalidation_max_paths": 3000,
        "cdn_invalidation_max_wildcards": 15}


def test_good_config_and_no_cdn_pass() -> None:
    assert config_errors(GOOD) == []
    assert config_errors({"cdn_build_dir": "", "cdn_invalidation_timeout": -5}) == []


@pytest.mark.parametrize(("change", "needle"), [
    ({"cdn_bucket": ""}, "cdn_bucket is required"),
    ({"cdn_cache_control": [{"value": "no-cache"}]}, "cdn_cache_control[0].pattern is required"),
    ({"cdn_cache_control": [{"pattern": "*.js"}]}, "cdn_cache_control[0].value is required"),
    ({"cdn_cache_control": [{"pattern": "/x", "value": "v"}]}, "cdn_cache_control[0].pattern must be relative"),
    ({"cdn_cache_control": [{"pattern": "x", "value": "v", "max_age": 1}]}, "unknown keys ['max_age']"),
    ({"cdn_cache_control": "no-cache"}, "cdn_cache_control must be a list"),
    ({"cdn_invalidation_timeout": -1}, "cdn_invalidation_timeout must be a number of seconds (0: do not wait) at least 0; got -1"),
    ({"cdn_invalidation_timeout": True}, "cdn_invalidation_timeout must be"),
    ({"cdn_invalidation_poll": 0}, "cdn_invalidation_poll must be"),
    ({"cdn_invalidation_max_paths": 3001}, "cdn_invalidation_max_paths must be a number of paths between 1 and 3000"),
    ({"cdn_invalidation_max_wildcards": 16}, "cdn_invalidation_max_wildcards must be"),
    ({"cdn_prefix": "/site"}, "cdn_prefix must not start with /"),
    ({"cdn_backup_prefix": ""}, "cdn_backup_prefix must not be empty"),
    ({"cdn_prefix": "_liftoff/cdn/site"}, "lies under cdn_backup_prefix"),
])
def test_bad_config_names_the_variable(change: dict[str, object], needle: str) -> None:
    errors = config_errors(GOOD | change)
    assert any(needle in e for e in errors), errors


def test_backups_in_another_bucket_may_use_any_prefix() -> None:
    assert config_errors(GOOD | {"cdn_prefix": "_liftoff/cdn/site", "cdn_backup_bucket": "other"}) == []
