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
  - Each metric in O(metrics) says where its number comes from (its O(metrics[].provider)),
    what counts as healthy (absolute bounds, bounds relative to a baseline, or a canary
    judge) and what a breach means (its O(metrics[].severity)). The task samples every
    metric on its schedule and returns the verdict with every sample and the threshold
    and limit that drove it.
  - B(Providers.) V(scrape) reads the app's own Prometheus text exposition from
    O(targets) (or the metric's own O(metrics[].targets)); it needs no Prometheus
    server. Every metric due at the same moment shares one scrape per target set, and
    each sample is measured over the delta since that metric's previous good scrape,
    so it describes one interval only. The measures of several targets (for example
    one metrics port per pm2 cluster worker) are summed. Fields O(metrics[].kind),
    O(metrics[].quantile), O(metrics[].route), O(metrics[].series), O(metrics[].targets).
  - V(prometheus) runs the PromQL O(metrics[].query) against the HTTP API of
    O(metrics[].url) (else O(prometheus_url)) - an instant query, or a range query over
    the last O(metrics[].range) seconds. Every value (one per series, every point of a
    range) is reduced to one number by O(metrics[].reduce). Fields O(metrics[].query),
    O(metrics[].url), O(metrics[].headers), O(metrics[].range), O(metrics[].step),
    O(metrics[].reduce).
  - V(json) GETs O(metrics[].url) and applies the JMESPath O(metrics[].query) to the
    JSON answer (no query - the whole document must be a number or a list of numbers);
    the result is reduced by O(metrics[].reduce). Fields O(metrics[].url),
    O(metrics[].query), O(metrics[].headers), O(metrics[].reduce).
  - V(command) runs O(metrics[].command) on the controller (an argument list, never
    through a shell) with O(timeout); its standard output is a number or, with
    O(metrics[].query), JSON reduced by that JMESPath query and then by
    O(metrics[].reduce). A non-zero exit or an answer that is not a number gives an
    C(error) sample; empty output gives no data. Fields O(metrics[].command),
    O(metrics[].query), O(metrics[].reduce).
  - V(fact) takes O(metrics[].value), a number the play already knows (a fact, a
    registered result). It is templated once, when the task starts, so every sample
    has that same value; V(null) is no data. Field O(metrics[].value).
  - V(sql) runs O(metrics[].query) on PostgreSQL (psycopg 3 on the controller) in a
    read-only session (C(default_transaction_read_only=on)) with a
    C(statement_timeout) of O(timeout); the value is the first column of the first row,
    and no row (or NULL) is no data. O(metrics[].connection) overrides O(sql_connection)
    key by key. Fields O(metrics[].query), O(metrics[].connection).
  - A field of another provider is refused (for example C(metrics[0].range only applies
    to provider prometheus, not json)), as is an unknown field. Every metric is validated
    before anything is sampled; an error names C(metrics[<index>].<field>) and the
    expected form.
  - B(Samples.) A sample is C(pass) or C(fail) against the metric's effective bounds
    (O(metrics[].min), O(metrics[].max) or O(metrics[].between), tightened by
    O(metrics[].max_increase) / O(metrics[].max_decrease) of the baseline), C(nodata)
    when the provider had nothing to measure (no requests in the interval, an empty
    query result, a NaN), C(error) when the provider failed (unreachable, HTTP error,
    timeout, bad answer).
  - B(Metric results.) A metric V(fail)s when its counted failed samples are more than
    O(metrics[].failure_limit) (samples without data count as failed under
    O(metrics[].no_data=fail)). It V(error)s when more than
    O(metrics[].consecutive_error_limit) samples in a row were provider errors; an error
    decides like a failure. It is V(inconclusive) when its samples without data are more
    than O(metrics[].inconclusive_limit) (under O(metrics[].no_data=inconclusive)), when
    no sample had a value at all (unless O(metrics[].no_data=fail) already failed it), when a relative bound has no
    baseline, or when its judge had too few samples. It is V(pending) while a V(high)
    metric's breach is inside its grace window. Otherwise it V(pass)es. A gate that saw
    nothing never says PROCEED.
  - B(Tiers.) A failed (or errored) V(critical) metric decides C(ROLLBACK). A failed
    V(high) metric decides C(ROLLBACK) too, but a breach (a run of failing samples) that
    clears - a passing sample - within O(metrics[].grace) seconds of its first failing
    sample is tolerated (not counted towards O(metrics[].failure_limit)), and a breach
    still open and younger than O(metrics[].grace) is V(pending), which decides C(HOLD)
    while the sampler waits for it to clear or expire. A failed V(medium) metric decides
    C(HOLD). An inconclusive or pending metric decides C(HOLD) whatever its tier.
  - B(Verdict.) The worst metric decision wins (C(ROLLBACK) > C(HOLD) > C(PROCEED));
    RV(driving) names the metrics that decided it. Metrics with
    O(metrics[].dry_run=true) are measured and reported (their reason says what they
    would have decided) but never decide.
  - B(Relative thresholds.) O(metrics[].max_increase) and O(metrics[].max_decrease) are
    fractions of a baseline captured before the deploy (0.5 = at most 50% above it).
    The effective maximum is C(baseline + |baseline| * max_increase), the effective
    minimum C(baseline - |baseline| * max_decrease), each combined with an absolute
    O(metrics[].max) / O(metrics[].min) by taking the stricter one. A baseline of 0
    allows no increase (or decrease) at all. Capture the baselines with
    O(mode=baseline) before the change (the median of O(count) samples per relative
    metric) and give the RV(baselines) it returns to the verify run's O(baselines). A
    relative metric without a baseline is inconclusive (C(HOLD)) unless an absolute bound
    already failed it, or only reported under O(missing_baseline=dry_run).
  - B(Canary judge.) A metric with O(metrics[].judge) also reads the baseline (stable)
    track at every sample, from the same provider with the overrides in
    O(metrics[].judge.baseline) (for example the stable track's query or targets). Once
    both sides have at least O(metrics[].judge.min_samples) values, a Mann-Whitney U
    test (Kayenta's canary judge) compares the canary's values with the baseline's; the
    metric fails when the canary is significantly worse in O(metrics[].judge.direction)
    (p < 1 - O(metrics[].judge.confidence)) and its median moved at least
    O(metrics[].judge.min_effect) (relative to the baseline median) the bad way. Too few
    samples is inconclusive. A sample whose baseline had no data counts as no data; one
    whose baseline could not be read at all is an C(error) sample.
    A judge can be the metric's only threshold, or come on top of bounds.
  - B(Schedule.) Each metric has its own O(metrics[].initial_delay),
    O(metrics[].interval) and O(metrics[].count) (by default 0, O(interval) and
    O(count)). It is primed at O(metrics[].initial_delay) seconds (the scrape provider
    takes the starting point of its first interval; the other providers read nothing
    then) and read at C(initial_delay + k * interval) for k = 1 .. count, so a breach
    visible in the provider is seen within one interval.
  - Sampling stops early once the verdict is a settled C(ROLLBACK) - a deciding
    V(critical) or V(high) metric has failed by O(metrics[].failure_limit) or errored by
    O(metrics[].consecutive_error_limit), which more samples cannot undo (RV(stopped_early),
    RV(stop_reason)). A judge's failure, a V(medium) failure or a C(HOLD) does not stop it.
  - A V(high) metric whose breach is still inside its grace window after its O(count)
    samples is sampled on, at its interval, until the breach clears or the grace expires
    (at most ceil(grace / interval) + 1 extra samples; RV(extended)).
  - Optionally sends bounded synthetic GET traffic (O(load)) while sampling, for
    environments with no real users (the demo).
  - The task never fails because of the verdict; the caller acts on RV(verdict).
    Malformed arguments fail the task before anything is sampled.
author:
  - liftoff.release contributors (@liftoff-release)
options:
  mode:
    description:
      - V(verify) samples every metric and decides (the verdict and its evidence).
      - V(baseline) samples only the metrics with a relative bound
        (O(metrics[].max_increase) / O(metrics[].max_decrease)) and returns the median
        of each one's values as RV(baselines), for a later V(verify) run's O(baselines).
        It decides nothing; with no relative metric it samples nothing. It samples on
        the same schedule as V(verify), early stop included (an absolute bound that a
        critical or high relative metric already breaches ends it early).
    type: str
    default: verify
    choices: [verify, baseline]
  metrics:
    description:
      - The metric specs. Names must be unique; at least one is required.
      - Each is validated before sampling; an error names C(metrics[<index>].<field>).
      - Which fields apply depends on O(metrics[].provider); a field of another provider
        is refused.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Unique name of the metric, used in reasons, in O(baselines) and in the record.
        type: str
        required: true
      provider:
        description:
          - Where the value comes from; see the description above for what each reads.
        type: str
        choices: [scrape, prometheus, json, command, fact, sql]
        default: scrape
      min:
        description:
          - Lowest healthy value (a sample below it fails).
          - At least one threshold is required - O(metrics[].min), O(metrics[].max),
            O(metrics[].between), O(metrics[].max_increase), O(metrics[].max_decrease)
            or O(metrics[].judge).
        type: float
      max:
        description:
          - Highest healthy value (a sample above it fails; equal passes).
          - For O(metrics[].kind=error_ratio), O(metrics[].min) and O(metrics[].max) are
            ratios in 0..1 (0.05 = 5%).
        type: float
      between:
        description:
          - C([low, high]), the same as O(metrics[].min) and O(metrics[].max) together;
            give one form or the other.
        type: list
        elements: float
      max_increase:
        description:
          - The highest healthy value relative to the baseline, as a fraction -
            V(0.5) fails a sample more than 50% above the baseline.
          - The baseline comes from O(baselines) (captured by O(mode=baseline)); without
            one the metric is inconclusive, or reported only (see O(missing_baseline)).
        type: float
      max_decrease:
        description:
          - The lowest healthy value relative to the baseline, as a fraction -
            V(0.05) fails a sample more than 5% below the baseline.
        type: float
      severity:
        description:
          - V(critical) - a failure decides ROLLBACK, and sampling stops at the first
            confirmed failure.
          - V(high) - a failure decides ROLLBACK (and stops sampling too), but breaches
            that clear within O(metrics[].grace) are tolerated and an open one younger
            than the grace is pending (HOLD).
          - V(medium) - a failure decides HOLD.
        type: str
        choices: [critical, high, medium]
        default: critical
      grace:
        description:
          - Seconds a V(high) metric's breach may last before it counts; only for
            O(metrics[].severity=high). V(0) counts every failing sample.
        type: float
        default: 0.0
      failure_limit:
        description: The metric fails when more than this many samples failed (after grace).
        type: int
        default: 0
      no_data:
        description:
          - What a sample without data counts as. V(fail) counts it as failed,
            V(inconclusive) towards O(metrics[].inconclusive_limit), V(ignore) not at all.
          - A metric with no value in any sample is inconclusive under V(inconclusive) and
            V(ignore); under V(fail) those samples fail it.
        type: str
        choices: [fail, inconclusive, ignore]
        default: inconclusive
      inconclusive_limit:
        description:
          - The metric is inconclusive (HOLD) when more than this many samples had no
            data (under O(metrics[].no_data=inconclusive)). The default tolerates one quiet
            interval, for example right after a restart.
        type: int
        default: 1
      consecutive_error_limit:
        description:
          - The metric errors (decides like a failure) when more than this many samples
            in a row could not be measured.
        type: int
        default: 4
      dry_run:
        description: Measure and report, never decide.
        type: bool
        default: false
      after_rollback:
        description:
          - Whether the gate after a rollback (the gate role's C(rollback) entry point) samples this metric too.
          - V(false) for a metric that judges the deploy's own window, such as errors counted over the release's
            first hour (C(increase(...[1h]))), which still holds the failed release's errors after the rollback.
        type: bool
        default: true
      unit:
        description:
          - What the value is measured in (for example C(ratio), C(seconds), C(bytes), C(items)), written
            after the numbers in the reasons and the record. Free text; it converts nothing.
        type: str
      interval:
        description: Seconds between this metric's samples; default O(interval).
        type: float
      count:
        description: Number of samples of this metric (at least 1); default O(count).
        type: int
      initial_delay:
        description:
          - Seconds after the task starts before this metric is primed; its first sample
            comes one interval later. For example to let a restarted app warm up.
        type: float
        default: 0.0
      judge:
        description:
          - Compare the canary's samples with the baseline (stable) track's, read at the
            same moments, with a Mann-Whitney U test (Kayenta's canary judge).
        type: dict
        suboptions:
          direction:
            description:
              - The direction that is bad. V(increase) (latency, error ratio), V(decrease)
                (throughput, success ratio) or V(either) (a two-sided test).
            type: str
            choices: [increase, decrease, either]
            default: increase
          confidence:
            description:
              - The canary fails only when the test is significant at this confidence,
                p < 1 - confidence. Between 0 and 1 exclusive.
            type: float
            default: 0.95
          min_effect:
            description:
              - And only when the canary's median moved at least this much the bad way,
                relative to the baseline median (V(0.1) = 10%; absolute when the baseline
                median is 0).
            type: float
            default: 0.0
          min_samples:
            description:
              - Values needed on each side before the judge passes or fails; fewer is
                inconclusive (HOLD). Set O(count) (or O(metrics[].count)) at least this high.
            type: int
            default: 3
          baseline:
            description:
              - Where the baseline samples come from - overrides of the metric's own
                provider fields, for example the stable track's O(metrics[].query) or
                O(metrics[].targets). At least one.
            type: dict
            required: true
            suboptions:
              query:
                description: The baseline's query (prometheus, json, command, sql).
                type: str
              url:
                description: The baseline's URL (prometheus, json).
                type: str
              command:
                description: The baseline's command (command).
                type: raw
              value:
                description: The baseline's value (fact).
                type: float
              route:
                description: The baseline's route label (scrape).
                type: str
              series:
                description: The baseline's series (scrape).
                type: str
              targets:
                description: The baseline's metrics URLs (scrape), for example the stable workers.
                type: list
                elements: str
      kind:
        description:
          - Provider V(scrape) only, and required there.
          - V(error_ratio) is 5xx requests / all requests over the interval, from the
            counter O(metrics[].series) (default C(http_requests_total)) with the status
            in a C(status), C(code) or C(status_code) label. No requests means no data.
          - V(latency_quantile) is the O(metrics[].quantile) of the histogram
            O(metrics[].series) (default C(http_request_duration_seconds)) over the
            interval, computed like PromQL C(histogram_quantile) (a rank in the C(+Inf)
            bucket gives the highest finite bound).
          - V(value) is the gauge O(metrics[].series) summed over targets at the end
            of the interval.
        type: str
        choices: [error_ratio, latency_quantile, value]
      quantile:
        description: Quantile for O(metrics[].kind=latency_quantile), between 0 and 1 exclusive.
        type: float
        default: 0.95
      route:
        description: Provider V(scrape) - only count series whose C(route) label equals this.
        type: str
      series:
        description:
          - Provider V(scrape) - the Prometheus series to read. Required for
            O(metrics[].kind=value).
        type: str
      targets:
        description: Provider V(scrape) - this metric's own metrics URLs, instead of O(targets).
        type: list
        elements: str
      query:
        description:
          - V(prometheus) - the PromQL query (required).
          - V(json) - a JMESPath expression over the answer (optional).
          - V(command) - a JMESPath expression over the output parsed as JSON (optional;
            without it the output is the number).
          - V(sql) - the SQL statement (required); the first column of the first row is
            the value.
        type: str
      url:
        description:
          - V(prometheus) - the Prometheus address, instead of O(prometheus_url).
          - V(json) - the endpoint to GET (required).
        type: str
      headers:
        description:
          - V(prometheus), V(json) - HTTP headers sent with the request (strings to strings).
            Their values are masked in the returned C(spec).
        type: dict
      range:
        description:
          - V(prometheus) - run a range query over the last this many seconds instead
            of an instant query; every point of every series is reduced together.
        type: float
      step:
        description:
          - V(prometheus) - the range query's resolution in seconds (only with
            O(metrics[].range)); default C(range / 60), at least 1.
        type: float
      reduce:
        description:
          - V(prometheus), V(json), V(command) - how several values (series, points of a
            range, list items) become one.
          - V(worst) is the value furthest on the unhealthy side of the bounds (the
            highest when there is an upper bound, else the lowest); V(last), V(min),
            V(max), V(avg), V(sum), V(p95) are what they say.
        type: str
        choices: [worst, last, min, max, avg, sum, p95]
        default: worst
      command:
        description:
          - V(command) - the command to run on the controller (required), as a list of
            arguments or a command line split like a shell would split it (no shell
            runs, so no pipes and no variables).
        type: raw
      value:
        description:
          - V(fact) - the value (required, a number or a numeric string); V(null) is no data.
        type: float
      connection:
        description:
          - V(sql) - connection settings (C(host), C(port), C(dbname), C(user),
            C(password), C(sslmode)) overriding O(sql_connection) key by key.
          - The password is masked in the returned C(spec), but this option is not
            C(no_log); prefer O(sql_connection.password) for secrets.
        type: dict
  targets:
    description:
      - Metrics URLs (Prometheus text format) the V(scrape) provider reads and sums, for
        metrics without their own O(metrics[].targets).
      - Required (non-empty) when a V(scrape) metric has no targets of its own.
    type: list
    elements: str
    default: []
  interval:
    description: Seconds between samples, for metrics without their own O(metrics[].interval).
    type: float
    default: 5.0
  count:
    description:
      - Samples per metric, for metrics without their own O(metrics[].count). In
        O(mode=baseline), the samples the baseline's median is taken over.
    type: int
    default: 6
  timeout:
    description:
      - Seconds allowed per provider read (scrape, query, GET, command, SQL statement)
        and per synthetic request.
    type: float
    default: 3.0
  baselines:
    description:
      - O(mode=verify) - the baseline per metric name (a number, or null for none), as
        returned in RV(baselines) by O(mode=baseline). Only metrics with a relative
        bound use it; names of other or unknown metrics are ignored.
    type: dict
    default: {}
  missing_baseline:
    description:
      - O(mode=verify) - what a metric with a relative bound does when O(baselines) has no
        value for it.
      - V(inconclusive) - it is inconclusive and decides C(HOLD) (unless an absolute bound
        already failed it).
      - V(dry_run) - it is sampled and reported as if O(metrics[].dry_run=true) (its
        absolute bounds and judge included) and decides nothing; for a first deploy, when
        nothing ran before to compare with.
    type: str
    default: inconclusive
    choices: [inconclusive, dry_run]
  prometheus_url:
    description:
      - Address of the Prometheus server the V(prometheus) provider queries, for
        example C(http://prometheus:9090); a metric's O(metrics[].url) wins.
      - Required when a V(prometheus) metric has no O(metrics[].url).
    type: str
  sql_connection:
    description:
      - Connection settings of the V(sql) provider, passed to psycopg; a metric's
        O(metrics[].connection) overrides them key by key. One connection per distinct
        setting is opened and reused for the whole task.
    type: dict
    suboptions:
      host:
        description: Database host, as seen from the controller.
        type: str
      port:
        description: Database port.
        type: int
      dbname:
        description: Database name.
        type: str
      user:
        description: Database user; a read-only role is enough.
        type: str
      password:
        description: Database password; never returned or logged.
        type: str
      sslmode:
        description: libpq C(sslmode), for example C(require).
        type: str
  load:
    description:
      - Synthetic traffic while sampling (in either mode), from one background thread,
        one request at a time, at most O(load.rate) per second and never catching up on
        lost time. It stops when sampling ends; its total requests are bounded by twice
        the rate over the planned window.
    type: dict
    suboptions:
      url:
        description: Base URL of the app.
        type: str
        required: true
      rate:
        description: Requests per second, more than 0 and at most 200.
        type: float
        default: 20.0
      paths:
        description: Paths requested in turn, relative to O(load.url) (or absolute URLs).
        type: list
        elements: str
        default: ["/"]
requirements:
  - jmespath (on the controller), for O(metrics[].query) of the V(json) and V(command) providers.
  - psycopg 3 (on the controller), for the V(sql) provider.
notes:
  - Scrapes, queries, GETs and synthetic requests go straight to their URL, ignoring
    proxy environment variables. URLs in messages lose their C(user:password@).
  - Supports check mode (it only reads).
seealso:
  - name: Argo Rollouts analysis
    description: The failure, inconclusive and consecutive-error semantics.
    link: https://argo-rollouts.readthedocs.io/en/stable/features/analysis/
  - name: Kayenta's Mann-Whitney classifier
    description: The canary judge.
    link: https://github.com/spinnaker/kayenta
"""

EXAMPLES = r"""
- name: Gate the release on the app's own metrics, with synthetic traffic
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
      - name: resident_memory
        kind: value
        series: process_resident_memory_bytes
        max: 1500000000
        severity: medium
    load:
      url: http://app1:3000
      rate: 20
      paths: [/, /health]
  register: gate_result

- name: Roll back when the gate says so
  ansible.builtin.debug:
    msg: "{{ gate_result.reasons }}"
  when: gate_result.verdict == 'ROLLBACK'

- name: Gate on Prometheus, an instant and a range query
  liftoff.release.gate:
    prometheus_url: http://prometheus:9090
    interval: 15
    count: 8
    metrics:
      - name: error_rate_5xx
        provider: prometheus
        query: >-
          sum(rate(http_requests_total{job="app", status=~"5.."}[1m]))
          / sum(rate(http_requests_total{job="app"}[1m]))
        max: 0.01
      - name: memory_peak
        provider: prometheus
        query: max(process_resident_memory_bytes{job="app"})
        range: 300
        step: 15
        reduce: max
        max: 1500000000
        severity: medium

- name: Gate on a JSON endpoint and on a command's output
  liftoff.release.gate:
    interval: 10
    count: 6
    metrics:
      - name: sync_queue_depth
        provider: json
        url: http://app1:3000/health
        query: queues.sync.depth
        max: 99
      - name: workers_down
        provider: json
        url: http://app1:3000/health
        query: "length(workers[?state != 'up'])"
        max: 0
      - name: pm2_not_online
        provider: command
        command: [pm2, jlist]
        query: "length([?pm2_env.status != 'online'])"
        max: 0
      - name: redis_jobs
        provider: command
        command: redis-cli llen jobs
        max: 500
        severity: medium

- name: Seed 003 "queue size < 100", from the database (counts are whole numbers, so max 99)
  liftoff.release.gate:
    sql_connection:
      host: db1
      port: 5432
      dbname: app
      user: app_readonly
      password: "{{ vault_app_readonly_password }}"
    interval: 30
    count: 10
    metrics:
      - name: write_queue_size
        provider: sql
        query: SELECT count(*) FROM pfa_write_queue WHERE status = 'pending'
        max: 99
        severity: high
        grace: 120

- name: A number the play already knows (one sample is enough, it does not change)
  liftoff.release.gate:
    metrics:
      - name: failed_smoke_checks
        provider: fact
        value: "{{ smoke.results | selectattr('failed') | list | length }}"
        max: 0
        count: 1
        interval: 1

- name: Seed 004 "performance degradation > 50%" - measure the baseline before the change
  liftoff.release.gate:
    mode: baseline
    targets: [http://app1:9101/metrics]
    count: 6
    metrics: &relative_metrics
      - name: p95_latency
        kind: latency_quantile
        max_increase: 0.5
        max: 2.0
      - name: throughput
        provider: prometheus
        query: sum(rate(http_requests_total{job="app"}[1m]))
        max_decrease: 0.3
        severity: medium
    prometheus_url: http://prometheus:9090
  register: before

- name: Seed 004 - after the change, roll back when p95 latency is more than 50% above it
  liftoff.release.gate:
    targets: [http://app1:9101/metrics]
    prometheus_url: http://prometheus:9090
    metrics: *relative_metrics
    baselines: "{{ before.baselines }}"

- name: A high-tier metric may breach briefly (seed 002 "p95 > 500 ms unresolved" rolls back)
  liftoff.release.gate:
    targets: [http://app1:9101/metrics]
    interval: 10
    count: 12
    metrics:
      - name: p95_latency
        kind: latency_quantile
        max: 0.5
        severity: high
        grace: 60
        initial_delay: 20

- name: Canary judge - is the canary's latency worse than the stable track's?
  liftoff.release.gate:
    prometheus_url: http://prometheus:9090
    interval: 30
    count: 10
    metrics:
      - name: p95_canary_vs_stable
        provider: prometheus
        query: >-
          histogram_quantile(0.95, sum by (le)
          (rate(http_request_duration_seconds_bucket{track="canary"}[1m])))
        severity: high
        judge:
          direction: increase
          confidence: 0.95
          min_effect: 0.1
          min_samples: 8
          baseline:
            query: >-
              histogram_quantile(0.95, sum by (le)
              (rate(http_request_duration_seconds_bucket{track="stable"}[1m])))
      - name: errors_canary_vs_stable
        kind: error_ratio
        targets: [http://canary1:9101/metrics]
        max: 0.05
        judge:
          min_effect: 0.5
          baseline:
            targets: [http://stable1:9101/metrics, http://stable2:9101/metrics]
"""

RETURN = r"""
verdict:
  description: The decision (O(mode=verify)).
  returned: in verify mode
  type: str
  sample: ROLLBACK
reasons:
  description: One sentence per metric; the metrics that drove the verdict come first.
  returned: in verify mode
  type: list
  elements: str
  sample:
    - "p95_latency breached max 0.3 (baseline 0.2) in 1 of 1 samples (last 0.31), more than failure_limit 0 -> ROLLBACK (critical)"
    - "queue_size within max 100 in 1 of 1 samples (last 42, max 42)"
driving:
  description: Names of the metrics that drove a HOLD or ROLLBACK (empty for PROCEED).
  returned: in verify mode
  type: list
  elements: str
  sample: [p95_latency]
metrics:
  description:
    - Per-metric results, in the order of O(metrics), with every sample and the threshold
      and limit that drove each.
    - Infinite numbers are the strings C(+Inf) / C(-Inf), as Prometheus writes them.
  returned: in verify mode
  type: list
  elements: dict
  contains:
    name: {description: Metric name., type: str, returned: always}
    provider: {description: "The provider: scrape, prometheus, json, command, fact or sql.", type: str, returned: always}
    kind: {description: The scrape kind (null for the other providers)., type: str, returned: always}
    severity: {description: "critical, high or medium.", type: str, returned: always}
    dry_run: {description: Whether the metric was reported only., type: bool, returned: always}
    result: {description: "pass, fail, inconclusive, error or pending.", type: str, returned: always}
    decision: {description: What this metric alone decides (PROCEED for dry-run metrics)., type: str, returned: always}
    threshold:
      description:
        - "The effective bounds C(min) and C(max) (relative bounds resolved against the
          baseline), C(max_increase), C(max_decrease) and C(baseline); null when unset."
      type: dict
      returned: always
    limit:
      description:
        - "The limit that drove the result, for example C({failure_limit: 0}),
          C({consecutive_error_limit: 4}), C({inconclusive_limit: 1}),
          C({grace: 60, failure_limit: 0}) (pending), C({confidence: 0.95, min_effect: 0.1})
          (judge failed) or C({min_samples: 3}) (judge inconclusive)."
      type: dict
      returned: always
    failed: {description: "Counted failed samples (including no-data samples under no_data=fail; not the tolerated ones).", type: int, returned: always}
    tolerated: {description: "Failed samples in breaches that cleared within grace (high tier).", type: int, returned: always}
    inconclusive: {description: No-data samples counted as inconclusive., type: int, returned: always}
    errors: {description: Samples that could not be measured., type: int, returned: always}
    count: {description: Samples taken., type: int, returned: always}
    stats:
      description: C(count) (samples with a value), C(min), C(max), C(last), C(p95) over the sample values; null without values.
      type: dict
      returned: always
    judge:
      description:
        - "The canary judge's verdict (null without O(metrics[].judge)): C(outcome) (pass,
          fail, inconclusive), C(p_value), C(u), C(effect) (relative change of the
          medians), C(canary_median), C(baseline_median), C(n_canary), C(n_baseline),
          C(confidence), C(min_effect), C(direction), C(reason)."
      type: dict
      returned: always
    reason: {description: The sentence for this metric., type: str, returned: always}
    spec:
      description: The validated spec with defaults filled in and the baseline applied; header values and the connection password masked.
      type: dict
      returned: always
    samples:
      description:
        - "Every sample: C(metric), C(at) (UTC ISO-8601), C(t) (seconds since the gate
          started), C(value) (null without data), C(status) (pass, fail, nodata, error),
          C(detail), and C(baseline_value) for a judge."
      type: list
      elements: dict
      returned: always
  sample:
    - name: p95_latency
      provider: scrape
      kind: latency_quantile
      severity: critical
      dry_run: false
      result: fail
      decision: ROLLBACK
      threshold: {min: null, max: 0.3, max_increase: 0.5, max_decrease: null, baseline: 0.2}
      limit: {failure_limit: 0}
      failed: 1
      tolerated: 0
      inconclusive: 0
      errors: 0
      count: 1
      stats: {count: 1, min: 0.31, max: 0.31, last: 0.31, p95: 0.31}
      judge: null
      reason: "p95_latency breached max 0.3 (baseline 0.2) in 1 of 1 samples (last 0.31), more than failure_limit 0 -> ROLLBACK (critical)"
      spec: {name: p95_latency, provider: scrape, kind: latency_quantile, quantile: 0.95, max_increase: 0.5, baseline: 0.2}
      samples:
        - {metric: p95_latency, at: "2026-11-23T06:40:05.000Z", t: 5.0, value: 0.31, status: fail, detail: "0.31 > max 0.3 (baseline 0.2)"}
samples_taken:
  description:
    - The most samples any metric took, grace extensions included (fewer than
      RV(count) when sampling stopped early).
  returned: in verify mode
  type: int
  sample: 2
count:
  description: The most samples any metric was scheduled for (O(count) or a metric's own).
  returned: in verify mode
  type: int
  sample: 6
stopped_early:
  description: Whether sampling stopped early because the verdict was a settled ROLLBACK.
  returned: in verify mode
  type: bool
  sample: true
stop_reason:
  description: Why sampling stopped early (empty otherwise); the sample numbers are summed over all metrics.
  returned: in verify mode
  type: str
  sample: "stopped after 3 of 12 samples: error_ratio already failed, more samples cannot clear it"
extended:
  description: Extra samples per metric taken past its count while a high-tier breach was inside its grace window.
  returned: in verify mode
  type: dict
  sample: {p95_latency: 2}
schedule:
  description: Per metric, the C(interval), C(count) and C(initial_delay) it was sampled with.
  returned: in verify mode
  type: dict
  sample:
    p95_latency: {interval: 10.0, count: 12, initial_delay: 20.0}
seconds:
  description: How long sampling took (0 in baseline mode when no metric is relative).
  returned: always
  type: float
  sample: 30.012
started:
  description: When sampling started (UTC ISO-8601).
  returned: in verify mode; in baseline mode when a metric is relative
  type: str
  sample: "2026-11-23T06:40:00.123Z"
ended:
  description: When sampling ended (UTC ISO-8601).
  returned: in verify mode; in baseline mode when a metric is relative
  type: str
  sample: "2026-11-23T06:40:30.456Z"
load:
  description: What the synthetic traffic did; null without O(load).
  returned: in verify mode
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
baselines:
  description:
    - Per relative metric, the median of its finite sample values, or null when none had
      a value. Pass it to a verify run's O(baselines).
  returned: in baseline mode
  type: dict
  sample: {p95_latency: 0.2, throughput: 41.5}
baseline_samples:
  description: Per relative metric, the samples the baseline was taken from (as in RV(metrics[].samples)).
  returned: in baseline mode
  type: dict
  sample:
    p95_latency:
      - {metric: p95_latency, at: "2026-11-23T06:30:05.000Z", t: 5.0, value: 0.2, status: pass, detail: "0.2"}
"""
