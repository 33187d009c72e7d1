# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation for the liftoff.release.gate action plugin (no module code runs)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: gate
short_description: Sample release metrics over time and decide PROCEED, HOLD or ROLLBACK
version_added: 1.0.0
description:
  - An B(action plugin that runs on the controller only); this file only documents it.
    It connects to no host and changes nothing, so it also samples in check mode.
  - Each sampling round scrapes every target's Prometheus text exposition before and
    after O(interval) seconds and measures every metric from the delta, so a sample
    describes that interval only. Targets (for example one metrics port per pm2 cluster
    worker) are measured per target and summed. A failed scrape gives an C(error) sample.
  - A sample passes or fails against the metric's O(metrics[].min) / O(metrics[].max).
    A metric fails when its failed samples exceed O(metrics[].failure_limit); it is
    inconclusive when its samples without data exceed O(metrics[].inconclusive_limit)
    or when no sample had a value at all; it errors when more than
    O(metrics[].consecutive_error_limit) samples in a row could not be measured.
  - The verdict is C(ROLLBACK) when a failed (or errored) critical or high metric
    exists, C(HOLD) when a medium metric failed or any metric is inconclusive, else
    C(PROCEED). Metrics with O(metrics[].dry_run=true) are reported but never decide.
  - Sampling stops early once a critical metric has failed (fail fast).
  - Optionally sends bounded synthetic GET traffic (O(load)) while sampling, for
    environments with no real users (the demo).
  - The task never fails because of the verdict; the caller acts on RV(verdict).
    Malformed arguments fail the task before anything is sampled.
author:
  - liftoff.release contributors
options:
  metrics:
    description:
      - The metric specs. Names must be unique; at least one is required.
      - Each is validated before sampling; an error names C(metrics[<index>].<field>).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Unique name of the metric, used in reasons and the record.
        type: str
        required: true
      kind:
        description:
          - V(error_ratio) is 5xx requests / all requests over the interval, from the
            counter O(metrics[].series) (default C(http_requests_total)) with the status
            in a C(status), C(code) or C(status_code) label. No requests means no data.
          - V(latency_quantile) is the O(metrics[].quantile) of the histogram
            O(metrics[].series) (default C(http_request_duration_seconds)) over the
            interval, computed like PromQL C(histogram_quantile).
          - V(value) is the gauge O(metrics[].series) summed over targets at the end
            of the interval.
        type: str
        required: true
        choices: [error_ratio, latency_quantile, value]
      min:
        description: Lowest healthy value. At least one of O(metrics[].min) and O(metrics[].max) is required.
        type: float
      max:
        description: Highest healthy value. For V(error_ratio) a ratio in 0..1 (0.05 = 5%).
        type: float
      quantile:
        description: Quantile for V(latency_quantile), between 0 and 1 exclusive.
        type: float
        default: 0.95
      route:
        description: Only count series whose C(route) label equals this.
        type: str
      series:
        description: Prometheus series to read. Required for V(value).
        type: str
      severity:
        description:
          - V(critical) and V(high) failures give C(ROLLBACK) (critical also stops sampling early);
            V(medium) failures give C(HOLD).
        type: str
        choices: [critical, high, medium]
        default: critical
      failure_limit:
        description: The metric fails when more than this many samples failed.
        type: int
        default: 0
      no_data:
        description:
          - What a sample without data counts as. V(fail) counts it as failed,
            V(inconclusive) towards O(metrics[].inconclusive_limit), V(ignore) not at all.
          - Whatever the policy, a metric with no value in any sample is inconclusive.
        type: str
        choices: [fail, inconclusive, ignore]
        default: inconclusive
      inconclusive_limit:
        description: The metric is inconclusive when more than this many samples had no data.
        type: int
        default: 1
      consecutive_error_limit:
        description: The metric errors (decides like a failure) when more than this many samples in a row could not be measured.
        type: int
        default: 4
      dry_run:
        description: Measure and report, never decide.
        type: bool
        default: false
  targets:
    description: Metrics URLs to scrape (Prometheus text format); their measures are summed.
    type: list
    elements: str
    required: true
  interval:
    description: Seconds per sample.
    type: float
    default: 5.0
  count:
    description: Number of samples per metric.
    type: int
    default: 6
  timeout:
    description: Seconds allowed per scrape (and per synthetic request).
    type: float
    default: 3.0
  load:
    description:
      - Synthetic traffic while sampling, from one background thread, one request at a
        time, at most O(load.rate) per second and never catching up on lost time. It
        stops when sampling ends.
    type: dict
    suboptions:
      url:
        description: Base URL of the app.
        type: str
        required: true
      rate:
        description: Requests per second, at most 200.
        type: float
        default: 20.0
      paths:
        description: Paths requested in turn, relative to O(load.url) (or absolute URLs).
        type: list
        elements: str
        default: ["/"]
notes:
  - Scrapes and synthetic requests go straight to the app, ignoring proxy environment variables.
  - Supports check mode (it only reads).
seealso:
  - name: Argo Rollouts analysis
    description: The semantics this gate grows towards.
    link: https://argo-rollouts.readthedocs.io/en/stable/features/analysis/
"""

EXAMPLES = r"""
- name: Gate the release on error ratio and p95 latency
  liftoff.release.gate:
    targets:
      - http://app1:9101/metrics
      - http://app1:9102/metrics
    interval: 5
    count: 6
    metrics:
      - name: error_ratio
        kind: error_ratio
        max: 0.05
        severity: critical
      - name: p95_latency
        kind: latency_quantile
        quantile: 0.95
        max: 0.5
        severity: medium
        failure_limit: 1
      - name: checkout_p99
        kind: latency_quantile
        quantile: 0.99
        route: /checkout
        max: 1.0
        dry_run: true
    load:
      url: http://app1:3000
      rate: 20
      paths: [/, /health]
  register: gate_result

- name: Roll back when the gate says so
  ansible.builtin.debug:
    msg: "{{ gate_result.reasons }}"
  when: gate_result.verdict == 'ROLLBACK'
"""

RETURN = r"""
verdict:
  description: The decision.
  returned: always
  type: str
  sample: ROLLBACK
reasons:
  description: One sentence per metric; the metrics that drove the verdict come first.
  returned: always
  type: list
  elements: str
  sample:
    - "error_ratio breached max 0.05 in 3 of 5 samples (last 0.3), more than failure_limit 0 -> ROLLBACK (critical)"
    - "p95_latency within max 0.5 in 5 of 5 samples (last 0.12, max 0.2)"
driving:
  description: Names of the metrics that drove a HOLD or ROLLBACK (empty for PROCEED).
  returned: always
  type: list
  elements: str
  sample: [error_ratio]
metrics:
  description: Per-metric results, with every sample and the threshold and limit that drove it.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Metric name., type: str, returned: always}
    kind: {description: Metric kind., type: str, returned: always}
    severity: {description: critical, high or medium., type: str, returned: always}
    dry_run: {description: Whether the metric was reported only., type: bool, returned: always}
    result: {description: "pass, fail, inconclusive or error.", type: str, returned: always}
    decision: {description: What this metric alone decides (PROCEED for dry-run metrics)., type: str, returned: always}
    threshold: {description: "C(min) and C(max) (null when unset).", type: dict, returned: always}
    limit: {description: "The limit that drove the result, e.g. C({failure_limit: 0}).", type: dict, returned: always}
    failed: {description: Failed samples (including no-data samples under no_data=fail)., type: int, returned: always}
    inconclusive: {description: No-data samples counted as inconclusive., type: int, returned: always}
    errors: {description: Samples that could not be measured., type: int, returned: always}
    count: {description: Samples taken., type: int, returned: always}
    stats: {description: "C(count), C(min), C(max), C(last), C(p95) over the sample values.", type: dict, returned: always}
    reason: {description: The sentence for this metric., type: str, returned: always}
    spec: {description: The validated spec with defaults filled in., type: dict, returned: always}
    samples:
      description: "Every sample: C(metric), C(at) (UTC ISO-8601), C(value) (null without data), C(status) (pass, fail, nodata, error), C(detail)."
      type: list
      elements: dict
      returned: always
  sample:
    - name: error_ratio
      kind: error_ratio
      severity: critical
      dry_run: false
      result: fail
      decision: ROLLBACK
      threshold: {min: null, max: 0.05}
      limit: {failure_limit: 0}
      failed: 1
      inconclusive: 0
      errors: 0
      count: 1
      stats: {count: 1, min: 0.3, max: 0.3, last: 0.3, p95: 0.3}
      reason: "error_ratio breached max 0.05 in 1 of 1 samples (last 0.3), more than failure_limit 0 -> ROLLBACK (critical)"
      samples:
        - {metric: error_ratio, at: "2026-11-23T06:40:05.000Z", value: 0.3, status: fail, detail: "0.3 > max 0.05"}
samples_taken:
  description: Samples taken per metric (fewer than O(count) when sampling stopped early).
  returned: always
  type: int
  sample: 2
count:
  description: Samples asked for.
  returned: always
  type: int
  sample: 6
stopped_early:
  description: Whether sampling stopped early because a critical metric had already failed.
  returned: always
  type: bool
  sample: true
stop_reason:
  description: Why sampling stopped early (empty otherwise).
  returned: always
  type: str
  sample: "stopped after 2 of 6 samples: critical metric(s) error_ratio already failed"
started:
  description: When sampling started (UTC ISO-8601).
  returned: always
  type: str
  sample: "2026-11-23T06:40:00.123Z"
ended:
  description: When sampling ended (UTC ISO-8601).
  returned: always
  type: str
  sample: "2026-11-23T06:40:30.456Z"
load:
  description: What the synthetic traffic did; null without O(load).
  returned: always
  type: dict
  sample:
    url: http://app1:3000
    rate: 20.0
    paths: [/]
    sent: 598
    statuses: {"200": 590, "500": 8}
    seconds: 30.1
    achieved_rate: 19.87
    last_error: ""
"""
