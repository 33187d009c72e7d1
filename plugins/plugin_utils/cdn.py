# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""What a CDN deploy invalidates, collapsed into wildcards within CloudFront's limits, and its inputs checked.

CloudFront allows at most 3,000 paths in progress per distribution for file paths, and at most 15 wildcard
paths in progress. Invalidating only what changed keeps cached assets warm; when the changed paths do not
fit, directories are collapsed into ``/dir/*`` wildcards, choosing those that invalidate the fewest unchanged
objects, until they fit (``/*`` at worst). A directory whose every object changed is collapsed anyway: one
wildcard costs what one path costs and also covers the query-string variants of its objects.
"""
from __future__ import annotations

import posixpath
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MAX_PATHS = 3000
MAX_WILDCARDS = 15
# RFC 1738 "unsafe" characters are percent-encoded, as CloudFront asks; so is "*", which would be a wildcard.
_SAFE = "/!$&'()+,;=:@"


class CdnPathsError(ValueError):
    """Limits that no set of paths can meet."""


def path_for_key(key: str, prefix: str = "") -> str:
    """The URL path (from the distribution's root) of the S3 ``key`` under ``prefix``, URL-encoded."""
    prefix = prefix.strip("/")
    rel = key[len(prefix) + 1:] if prefix and key.startswith(prefix + "/") else key
    return "/" + urllib.parse.quote(rel.lstrip("/"), safe=_SAFE)


def invalidation_paths(keys: Iterable[str], prefix: str = "", index_document: str = "") -> list[str]:
    """The paths of ``keys``; an index document is also served as its directory (``/docs/``, ``/``)."""
    paths: set[str] = set()
    for key in keys:
        path = path_for_key(key, prefix)
        paths.add(path)
        if index_document and posixpath.basename(path) == urllib.parse.quote(index_document, safe=_SAFE):
            paths.add(path[: -len(posixpath.basename(path))])
    return sorted(paths)


def ancestors(path: str) -> list[str]:
    """The directories that hold ``path`` (``/a/b/c.js`` -> ``/``, ``/a/``, ``/a/b/``); a ``/a/`` path is its own."""
    directory = path[: path.rfind("/") + 1]
    parts = directory.strip("/").split("/") if directory.strip("/") else []
    return ["/"] + ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def covered(path: str, wildcard_dirs: Iterable[str]) -> bool:
    return any(path.startswith(d) for d in wildcard_dirs)


def _lossless_dirs(changed: set[str], universe: set[str], max_wildcards: int) -> list[str]:
    """Topmost directories whose every object changed, most paths saved first (at most ``max_wildcards``)."""
    changed_under: Counter[str] = Counter(d for p in changed for d in ancestors(p))
    all_under: Counter[str] = Counter(d for p in universe | changed for d in ancestors(p))
    full = {d for d, n in changed_under.items() if n == all_under[d] and n >= 2}
    topmost = [d for d in full if not any(a in full for a in ancestors(d) if a != d)]
    topmost.sort(key=lambda d: (-changed_under[d], d))
    return topmost[:max_wildcards]


def _collapse_until_fits(exact: set[str], wildcards: set[str], changed: set[str], universe: set[str] | None,
                         max_paths: int, max_wildcards: int) -> tuple[set[str], set[str]]:
    """Greedily turn directories into wildcards until the paths fit; ``/*`` when nothing else does."""
    changed_total: Counter[str] = Counter(d for p in changed for d in ancestors(p))
    all_under: Counter[str] = Counter(d for p in (universe or set()) | changed for d in ancestors(p))
    while len(exact) + len(wildcards) > max_paths:
        excess = len(exact) + len(wildcards) - max_paths
        exact_under: Counter[str] = Counter(d for p in exact for d in ancestors(p))
        wild_under: Counter[str] = Counter(d for w in wildcards for d in ancestors(w))
        options = []
        for d in set(exact_under) | set(wild_under):
            if d in wildcards:
                continue
            reduction = exact_under[d] + wild_under[d] - 1
            if reduction <= 0 or len(wildcards) - wild_under[d] + 1 > max_wildcards:
                continue
            # objects a wildcard on d invalidates that did not change (unknown without a universe: prefer depth)
            collateral = all_under[d] - changed_total[d] if universe is not None else 0
            options.append((reduction >= excess, d, reduction, collateral))
        if not options:
            return set(), {"/"}
        enough = [o for o in options if o[0]]
        if enough:
            choice = min(enough, key=lambda o: (o[3], -len(o[1]), o[1]))[1]
        else:
            choice = min(options, key=lambda o: (-o[2], o[3], -len(o[1]), o[1]))[1]
        wildcards = {w for w in wildcards if not w.startswith(choice)} | {choice}
        exact = {p for p in exact if not p.startswith(choice)}
    return exact, wildcards


def collapse(paths: Iterable[str], universe: Iterable[str] | None = None, max_paths: int = MAX_PATHS,
             max_wildcards: int = MAX_WILDCARDS) -> list[str]:
    """Invalidation paths covering every one of ``paths``, at most ``max_paths`` of them, at most ``max_wildcards``
    ending in ``*``.

    ``universe`` (every path the distribution serves from the bucket, before and after the deploy) lets the
    function collapse a directory whose every object changed without invalidating anything else, and choose
    the wildcards with the fewest unchanged objects under them. Without it, the exact paths are kept when they
    fit, and the deepest directories are collapsed first when they do not.
    """
    if max_paths < 1 or max_wildcards < 1:
        raise CdnPathsError(f"max_paths and max_wildcards must be 1 or more, got {max_paths} and {max_wildcards}")
    changed = {p if p.startswith("/") else "/" + p for p in paths}
    if not changed:
        return []
    exact = set(changed)
    every = None if universe is None else {p if p.startswith("/") else "/" + p for p in universe}
    wildcards: set[str] = set()
    if every is not None:
        wildcards = set(_lossless_dirs(changed, every, max_wildcards))
        exact = {p for p in exact if not covered(p, wildcards)}
    exact, wildcards = _collapse_until_fits(exact, wildcards, changed, every, max_paths, max_wildcards)
    return sorted(exact | {d + "*" for d in wildcards})


def paths_for_change(changed_keys: Iterable[str], prefix: str = "", universe_keys: Iterable[str] | None = None,
                     index_document: str = "", max_paths: int = MAX_PATHS,
                     max_wildcards: int = MAX_WILDCARDS) -> list[str]:
    """From the S3 keys a deploy overwrote or deleted to the paths one invalidation asks for."""
    changed = invalidation_paths(changed_keys, prefix, index_document)
    universe = None if universe_keys is None else invalidation_paths(universe_keys, prefix, index_document)
    return collapse(changed, universe, max_paths, max_wildcards)


# --- inputs ------------------------------------------------------------------------------------------------------

def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _rule_errors(rules: Any, name: str) -> list[str]:
    if not isinstance(rules, Sequence) or isinstance(rules, (str, bytes)):
        return [f"{name} must be a list of rules like {{pattern: '*.html', value: 'no-cache'}}; got {rules!r}"]
    errors: list[str] = []
    for index, rule in enumerate(rules):
        where = f"{name}[{index}]"
        if not isinstance(rule, Mapping):
            errors.append(f"{where} must be a mapping with pattern and value; got {rule!r}")
            continue
        pattern, value = rule.get("pattern"), rule.get("value")
        if not isinstance(pattern, str) or not pattern.strip():
            errors.append(f"{where}.pattern is required: a glob on the path in the build directory, like 'assets/*'")
        elif pattern.startswith("/"):
            errors.append(f"{where}.pattern must be relative to the build directory (no leading /); got {pattern!r}")
        if not isinstance(value, str) or not value.strip():
            errors.append(f"{where}.value is required: a Cache-Control header value, like 'no-cache'")
        unknown = sorted(set(map(str, rule)) - {"pattern", "value"})
        if unknown:
            errors.append(f"{where} has unknown keys {unknown}: a rule has only pattern and value")
    return errors


def _bounded(config: Mapping[str, Any], name: str, low: float, high: float | None, what: str) -> list[str]:
    value = _number(config.get(name))
    if value is None or value < low or (high is not None and value > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        return [f"{name} must be {what} {bound}; got {config.get(name)!r}"]
    return []


def config_errors(config: Mapping[str, Any]) -> list[str]:
    """Why the cdn role's variables cannot work (empty when they can). Each message names the variable."""
    if not str(config.get("cdn_build_dir") or "").strip():
        return []  # no CDN: nothing else is read
    errors: list[str] = []
    if not str(config.get("cdn_bucket") or "").strip():
        errors.append("cdn_bucket is required when cdn_build_dir is set: the S3 bucket the assets go to")
    for name in ("cdn_prefix", "cdn_backup_prefix"):
        if str(config.get(name) or "").startswith("/"):
            errors.append(f"{name} must not start with / (S3 keys do not); got {config.get(name)!r}")
    if not str(config.get("cdn_backup_prefix") or "").strip("/"):
        errors.append("cdn_backup_prefix must not be empty: the previous assets are copied under it for a rollback")
    same_bucket = not config.get("cdn_backup_bucket") or config.get("cdn_backup_bucket") == config.get("cdn_bucket")
    site = str(config.get("cdn_prefix") or "").strip("/")
    backup = str(config.get("cdn_backup_prefix") or "").strip("/")
    if same_bucket and backup and site and (site + "/").startswith(backup + "/"):
        errors.append(
            f"cdn_prefix {site!r} lies under cdn_backup_prefix {backup!r}: the backups would be deployed over")
    errors += _rule_errors(config.get("cdn_cache_control", []), "cdn_cache_control")
    if not isinstance(config.get("cdn_cache_control_default", ""), str) \
            or not str(config.get("cdn_cache_control_default")).strip():
        errors.append("cdn_cache_control_default must be a Cache-Control value for files no rule matches")
    errors += _bounded(config, "cdn_invalidation_timeout", 0, None, "a number of seconds (0: do not wait)")
    errors += _bounded(config, "cdn_invalidation_poll", 1, None, "a number of seconds")
    errors += _bounded(config, "cdn_invalidation_max_paths", 1, MAX_PATHS, "a number of paths")
    errors += _bounded(config, "cdn_invalidation_max_wildcards", 1, MAX_WILDCARDS, "a number of wildcard paths")
    return errors
