"""What the chart's monitoring queries: the metric names and label names of every PromQL
expression of the PrometheusRule and the Grafana dashboard.

Shared by tests/chart/test_prometheus_rules.py (the rules and the dashboard as rendered) and
tests/install/test_install.py (every name queried is one the operator's /metrics really exposes
after an import). The extraction is a small scanner, not a PromQL parser: the expressions are the
chart's own, and `self_check()` holds it to the names it must find in known expressions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "user-import-operator"
DASHBOARD = CHART / "dashboards" / "user-import.json"

# Labels Prometheus adds to every series of a target (the ServiceMonitor's: the Service's
# namespace, the Service and job, the pod and container, the endpoint), not the exporter.
TARGET_LABELS = {"namespace", "job", "service", "pod", "container", "endpoint", "instance"}
# The operator's metrics start with this; any other name must be one of external_metrics().
OPERATOR_PREFIX = "user_import_"
# kube-state-metrics' own: the pods' restarts (a built-in metric) and the labels it carries.
KSM_RESTARTS = "kube_pod_container_status_restarts_total"
KSM_RESTARTS_LABELS = {"namespace", "pod", "container", "uid"}

_STRING = r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`'
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{((?:" + _STRING + r'|[^}"\'`])*)\}')
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*(?:" + _STRING + ")")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENT = re.compile(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "atan2"}


@dataclass
class Query:
    """One expression: the series it selects (metric name -> label names in its matchers) and
    the labels it groups or matches by."""
    expr: str
    selectors: dict[str, set[str]] = field(default_factory=dict)
    grouping: set[str] = field(default_factory=set)

    @property
    def metrics(self) -> set[str]:
        return set(self.selectors)


def parse(expr: str) -> Query:
    query = Query(expr)
    rest = expr
    # Selectors with braces: the name before `{` (if any), the label names inside.
    for match in _SELECTOR.finditer(rest):
        name, body = match.group(1), match.group(2)
        labels = {m.group(1) for m in _MATCHER.finditer(body)}
        if name is None:
            raise ValueError(f"a selector without a metric name in {expr!r}")
        query.selectors.setdefault(name, set()).update(labels - {"__name__"})
    rest = _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", rest)
    rest = re.sub(_STRING, " ", rest)
    rest = re.sub(r"\[[^\]]*\]", " ", rest)  # range and subquery durations
    for match in _GROUPING.finditer(rest):
        query.grouping.update(label.strip() for label in match.group(2).split(",") if label.strip())
    rest = _GROUPING.sub(" ", rest)
    # What is left: functions and aggregations (followed by `(`), keywords, numbers and bare
    # metric names.
    for match in _IDENT.finditer(rest):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        query.selectors.setdefault(name, set())
    return query


def grafana_to_promql(expr: str) -> str:
    """A dashboard's expression with Grafana's variables replaced by values PromQL takes."""
    expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$__range", "1h")
    return re.sub(r"\$\{?(\w+)\}?", r"\1", expr)


def rule_exprs(rule_doc: dict) -> dict[str, str]:
    """alert name -> expression, of a rendered PrometheusRule."""
    return {r["alert"]: r["expr"] for g in rule_doc["spec"]["groups"] for r in g["rules"]}


def dashboard_exprs(dashboard: dict | None = None) -> list[str]:
    """Every panel target's expression (rows' nested panels too), Grafana variables replaced."""
    dashboard = dashboard or json.loads(DASHBOARD.read_text())
    panels = list(dashboard["panels"])
    for panel in list(panels):
        panels.extend(panel.get("panels", []))
    return [grafana_to_promql(t["expr"]) for p in panels for t in p.get("targets", [])]


def dashboard_variable_queries(dashboard: dict | None = None) -> list[Query]:
    """The query variables' `label_values(selector, label)`: the selector and the label."""
    dashboard = dashboard or json.loads(DASHBOARD.read_text())
    queries = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        text = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        found = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", text)
        assert found, text
        query = parse(grafana_to_promql(found.group(1)))
        query.grouping.add(found.group(2))
        queries.append(query)
    return queries


def external_metrics() -> dict[str, set[str]]:
    """Metrics the chart's monitoring queries that the operator does not export, with their
    labels: kube-state-metrics' restarts."""
    return {KSM_RESTARTS: KSM_RESTARTS_LABELS}


def as_scraped(labels: set[str]) -> set[str]:
    """An exporter's label names as Prometheus stores them from a ServiceMonitor's target: one
    that the target has too (`namespace`: the operator's per-import gauges carry the
    UserImport's) is renamed `exported_<name>`, since the target's own label wins (honor_labels
    is off)."""
    return {f"exported_{label}" if label in TARGET_LABELS else label for label in labels}


def self_check() -> None:
    """The scanner finds what it must in expressions like the chart's."""
    q = parse('sum by (namespace, error) (increase(user_import_reconcile_failures_total'
              '{namespace="a",job="b-metrics"}[10m])) > 0')
    assert q.selectors == {"user_import_reconcile_failures_total": {"namespace", "job"}}, q
    assert q.grouping == {"namespace", "error"}, q
    q = parse('histogram_quantile(0.9, sum by (le) (rate(user_import_reconcile_duration_seconds_bucket[5m])))'
              ' / on (pod) group_left(node) kube_pod_info')
    assert q.selectors == {"user_import_reconcile_duration_seconds_bucket": set(), "kube_pod_info": set()}, q
    assert q.grouping == {"le", "pod", "node"}, q
    q = parse('(sum(user_import_leader{job=~"x|y", pod!="a}b"}) or vector(0)) < 1 and 1e3 > bool 2')
    assert q.selectors == {"user_import_leader": {"job", "pod"}}, q
    q = parse('sum by (phase) (max by (exported_namespace, phase) (user_import_imports{stalled_reason!=""}))'
              ' unless up offset 5m')
    assert q.selectors == {"user_import_imports": {"stalled_reason"}, "up": set()}, q
    assert q.grouping == {"phase", "exported_namespace"}, q
    assert as_scraped({"namespace", "phase"}) == {"exported_namespace", "phase"}
    q = parse(grafana_to_promql('sum(rate(user_import_rows_total{namespace="$namespace"}[$__rate_interval]))'))
    assert q.selectors == {"user_import_rows_total": {"namespace"}}, q
