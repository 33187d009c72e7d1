#!/usr/bin/env python
"""Write docs/gate-profiles.md from the gate's threshold profiles (roles/gate/files/profiles/*.yml).

    gate_profiles_md.py            rewrite docs/gate-profiles.md
    gate_profiles_md.py --check    exit 1 when the committed doc differs from the profiles

Each profile is parsed by the collection's own ``parse_profile``, so a malformed profile
fails here too. A unit test (test_gate_profile.py) fails when the doc drifts.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PROFILES = REPO / "roles" / "gate" / "files" / "profiles"
DOC = REPO / "docs" / "gate-profiles.md"
if str(REPO / ".collections") not in sys.path:
    sys.path.insert(0, str(REPO / ".collections"))

from ansible_collections.liftoff.release.plugins.plugin_utils.gate_profile import (  # noqa: E402
    Profile,
    Tier,
    Window,
    parse_profile,
)

HEADER = """\
# Gate threshold profiles

<!-- Generated from roles/gate/files/profiles/*.yml by scripts/gate_profiles_md.py: do not edit.
     Run `.venv/bin/python scripts/gate_profiles_md.py` after changing a profile. -->

A threshold profile holds the seed checklists' rollback criteria as gate tiers. With the gate
role's `gate_profile` set (`default`, `seed-000` ... `seed-004`), a `gate_metrics` item may give
`profile: <metric key>`, a `name` and its provider's fields instead of thresholds; the
`liftoff.release.gate_apply_profile` filter expands it into one metric per tier, named
`<name>.<severity>`, and `liftoff.release.gate_profile_trace` says which catalogue ids each one
implements.

```yaml
gate_profile: seed-002
gate_metrics:
  - {name: error_ratio, profile: error_ratio, provider: scrape, kind: error_ratio}
# -> error_ratio.critical (max 0.1), error_ratio.high (max 0.05, grace 1800), error_ratio.medium (max 0.01)
```

Tiers: **critical** rolls back at the first confirmed breach (a breach beyond `failure_limit`);
**high** rolls back unless the breach clears within `grace` seconds; **medium** holds (a person
decides); a **dry run** tier is measured and reported but never decides. Thresholds are in the
gate's units: ratios 0..1 (0.05 = 5%), seconds, bytes, counts, events per minute;
`max_increase` / `max_decrease` are fractions of the value measured before the deploy.
Catalogue ids refer to `catalogue/seed-catalogue.yml`.
"""


def number(value: float) -> str:
    """A number as written in the profile: integers without a decimal point."""
    return str(int(value)) if float(value).is_integer() else f"{value:.10g}"


def _reading(value: float, unit: str) -> str:
    if unit == "ratio":
        return f" ({number(value * 100)}%)"
    if unit == "seconds" and 0 < value < 1:
        return f" ({number(value * 1000)} ms)"
    if unit == "bytes" and value >= 1024 * 1024:
        return f" ({number(value / (1024 * 1024))} MiB)"
    return ""


def threshold(tier: Tier, unit: str) -> str:
    parts: list[str] = []
    if tier.between is not None:
        low, high = tier.between
        parts.append(f"between {number(low)} and {number(high)}")
    for key in ("min", "max"):
        value = getattr(tier, key)
        if value is not None:
            parts.append(f"{key} {number(value)}{_reading(value, unit)}")
    if tier.max_increase is not None:
        parts.append(f"max_increase {number(tier.max_increase)} (+{number(tier.max_increase * 100)}% of baseline)")
    if tier.max_decrease is not None:
        parts.append(f"max_decrease {number(tier.max_decrease)} (-{number(tier.max_decrease * 100)}% of baseline)")
    for key in ("failure_limit", "no_data", "inconclusive_limit"):
        value = getattr(tier, key)
        if value is not None:
            parts.append(f"{key} {value}")
    return ", ".join(parts)


def duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{number(seconds)} s ({number(seconds / 3600)} h)"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{number(seconds)} s ({number(seconds / 60)} min)"
    return f"{number(seconds)} s"


def _window(label: str, window: Window | None) -> str:
    if window is None:
        return f"- {label}: none stated."
    cited = ", ".join(window.catalogue) if window.catalogue else window.source
    return f"- {label}: {duration(window.seconds)} ({cited})."


def section(profile: Profile) -> str:
    lines = [f"## {profile.name}", "", profile.description, "", f"Source: {profile.source}", "",
             "| metric key | unit | tier | threshold | grace | catalogue |",
             "|---|---|---|---|---|---|"]
    for key, metric in profile.metrics.items():
        for tier in metric.tiers:
            severity = f"{tier.severity} (dry run)" if tier.dry_run else tier.severity
            grace = duration(tier.grace) if tier.grace else ""
            lines.append(f"| {key} | {metric.unit} | {severity} | {threshold(tier, metric.unit)} | {grace} | "
                         f"{', '.join(tier.catalogue)} |")
    tiers = sum(len(m.tiers) for m in profile.metrics.values())
    lines += ["", f"{len(profile.metrics)} metric keys, {tiers} tiers, {len(profile.catalogue_ids())} catalogue ids.",
              "", _window("Minimum observation window", profile.window),
              _window("Stability window after a rollback", profile.post_rollback)]
    if profile.notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in profile.notes]
    return "\n".join(lines) + "\n"


def load(path: Path) -> Profile:
    return parse_profile(yaml.safe_load(path.read_text(encoding="utf-8")), where=path.name)


def profile_paths(directory: Path = PROFILES) -> list[Path]:
    """The profile files, ``default`` first."""
    return sorted(directory.glob("*.yml"), key=lambda p: (p.stem != "default", p.stem))


def render(directory: Path = PROFILES) -> str:
    return "\n".join([HEADER, *(section(load(p)) for p in profile_paths(directory))])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the doc is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
        if current != text:
            print(f"{DOC.relative_to(REPO)} is out of date: run scripts/gate_profiles_md.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
