"""The chart's monitoring: the PrometheusRule checked and unit-tested with the real promtool, and
the Grafana dashboard.

promtool is Prometheus' own, built from its Go module by scripts/promtool (tests/promtool; .ci/run
builds it in the background while Cargo builds). It is required: without it these tests fail.

- `promtool check rules` (all lints, fatal) on the rules `helm template` renders with
  prometheusRule.enabled, for the default values and for changed ones;
- `promtool test rules`: every alert fires on the series it is about and stays quiet on the
  others (and before its `for`), with its labels and annotations as rendered;
- every alert has its runbook section in docs/troubleshooting.md;
- every expression of the rules and of the dashboard parses (`promtool promql format`), and
  every metric they name is the operator's or kube-state-metrics' restarts; tests/install checks
  the operator's names and labels against a real /metrics.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import helm_python
import pytest
import yaml

import promql

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "user-import-operator"
TROUBLESHOOTING = ROOT / "docs" / "troubleshooting.md"
RELEASE = "uio"
NAMESPACE = "user-import"
FULLNAME = "uio-user-import-operator"
OPERATOR = {"namespace": NAMESPACE, "job": f"{FULLNAME}-metrics"}
POD = f"{FULLNAME}-7d9f8b6c4d-x2x9z"

ALERTS = {
    "UserImportStalled", "UserImportFailed", "UserImportReportDeliveryFailing",
    "UserImportReportNotDelivered", "UserImportOperatorNoLeader", "UserImportReconcileErrors",
    "UserImportReconcilePanicked", "UserImportControllerPanicked", "UserImportOperatorRestarting",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    """The promtool binary: $PROMTOOL, else scripts/promtool's (built once, cached)."""
    if os.environ.get("PROMTOOL"):
        return os.environ["PROMTOOL"]
    result = subprocess.run([str(ROOT / "scripts" / "promtool"), "--print-path"], cwd=ROOT,
                            capture_output=True, text=True, timeout=2400, check=False)
    assert result.returncode == 0, f"scripts/promtool --print-path failed:\n{result.stderr}"
    path = result.stdout.strip().splitlines()[-1]
    assert Path(path).is_file(), path
    return path


def run(promtool: str, *args: str, cwd: Path | None = None) -> str:
    result = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120,
                            cwd=cwd, check=False)
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def render(values: dict | None = None) -> list[dict]:
    files = helm_python.Chart.load(str(CHART)).render(values or {}, name=RELEASE, namespace=NAMESPACE)
    return [d for path, text in files.items() if not path.endswith("NOTES.txt")
            for d in yaml.safe_load_all(text) if d]


def rule_doc(values: dict | None = None) -> dict:
    values = {**(values or {})}
    values["prometheusRule"] = {"enabled": True, **values.get("prometheusRule", {})}
    (doc,) = [d for d in render(values) if d["kind"] == "PrometheusRule"]
    return doc


def rules_file(tmp_path: Path, doc: dict) -> Path:
    """The PrometheusRule's groups as a Prometheus rules file (what the Operator gives it)."""
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": doc["spec"]["groups"]}, sort_keys=False))
    return path


def alerts_of(doc: dict) -> dict[str, dict]:
    return {r["alert"]: r for g in doc["spec"]["groups"] for r in g["rules"]}


def expand(template: str, labels: dict[str, str], value: float | None = None) -> str:
    """The annotation as Prometheus renders it for these labels (the templates use only
    `$labels.x` and `printf "%.0f" $value`)."""
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), template)
    text = text.replace('{{ printf "%.0f" $value }}', f"{value:.0f}" if value is not None else "")
    assert "{{" not in text, text
    return text


def firing(doc: dict, alert: str, labels: dict[str, str], value: float | None = None) -> dict:
    """An expected alert: the rule's own labels plus the series', its annotations expanded."""
    rule = alerts_of(doc)[alert]
    all_labels = {**labels, **rule.get("labels", {})}
    return {"exp_labels": all_labels,
            "exp_annotations": {k: expand(v, all_labels, value) for k, v in rule["annotations"].items()}}


def series(name: str, labels: dict[str, str]) -> str:
    """A series as Prometheus stores it: a label with an empty value is no label at all."""
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if v) + "}"


def scraped(name: str, labels: dict[str, str], target: dict[str, str] | None = None, pod: str = POD) -> str:
    """One of the operator's series as Prometheus stores it from the ServiceMonitor's target
    (`target`, by default the release's): the UserImport's `namespace` label renamed
    `exported_namespace`, since the target has a `namespace` of its own (the release's)."""
    renamed = {("exported_namespace" if k == "namespace" else k): v for k, v in labels.items()}
    return series(name, {**(target or OPERATOR), "pod": pod, **renamed})


def imports(namespace: str, phase: str, stalled_reason: str = "", **kwargs) -> str:
    """user_import_imports: the leader's count of the UserImports of `namespace` in `phase`."""
    labels = {"namespace": namespace, "phase": phase, "stalled_reason": stalled_reason}
    return scraped("user_import_imports", labels, **kwargs)


def reports(namespace: str, state: str, reason: str = "", **kwargs) -> str:
    """user_import_error_reports: the leader's count of error reports in `state`, by reason."""
    labels = {"namespace": namespace, "state": state, "reason": reason}
    return scraped("user_import_error_reports", labels, **kwargs)


def steps(every: int, until: int) -> str:
    """A counter that grows by one every `every` minutes, sampled each minute for `until`."""
    return " ".join(f"{i // every}" for i in range(until + 1))


def default_suite(doc: dict) -> list[dict]:
    """promtool unit tests of every alert with the default thresholds, firing and not firing."""
    op = lambda name, **extra: series(name, {**OPERATOR, "pod": POD, **extra})  # noqa: E731
    other_job = lambda name: series(name, {"namespace": NAMESPACE, "job": "other"})  # noqa: E731
    other_release = {"namespace": "elsewhere", "job": "other-metrics"}
    restarts = {"namespace": NAMESPACE, "pod": POD, "container": "operator", "uid": "u1"}
    return [
        {"name": "imports: stalled, failed, report states; only the stuck ones fire, after their for",
         "interval": "1m",
         "input_series": [
             # Two imports stalled on a missing Tenant, one rejected template (Failed, stalled).
             {"series": imports("acme", "Pending", "TenantNotFound"), "values": "2x40"},
             {"series": imports("acme", "Failed", "TemplateRejected"), "values": "1x40"},
             # A handover: for a few minutes the new leader has the same series too.
             {"series": imports("acme", "Pending", "TenantNotFound", pod=POD + "b"), "values": "_x16 2x5 _x19"},
             {"series": imports("acme", "Failed"), "values": "1x40"},
             {"series": imports("acme", "SucceededWithProblems"), "values": "3x40"},
             # Stalled for 5 minutes only, then imported: never fires.
             {"series": imports("beta", "Pending", "TemplateSourceNotFound"), "values": "1x5 _x35"},
             {"series": imports("beta", "Succeeded"), "values": "_x5 1x35"},
             # Another release's operator (another job): not this release's imports.
             {"series": imports("acme", "Failed", "TenantNotFound", target=other_release), "values": "1x40"},
             {"series": imports("acme", "Failed", target=other_release), "values": "1x40"},
             {"series": reports("acme", "Sent", "Sent"), "values": "3x40"},
             {"series": reports("acme", "Failed", "DeliveryFailed"), "values": "1x40"},
             {"series": reports("acme", "Failed", "RetriesExhausted"), "values": "1x40"},
             {"series": reports("beta", "Failed", "NoRecipient"), "values": "_x10 1x30"},
             {"series": reports("acme", "Failed", "RetriesExhausted", target=other_release), "values": "1x40"},
             # A report retried for 5 minutes, then sent: never fires.
             {"series": reports("beta", "Failed", "DeliveryFailed"), "values": "1x5 _x35"},
         ],
         "alert_rule_test": [
             {"eval_time": "14m", "alertname": "UserImportStalled", "exp_alerts": []},
             {"eval_time": "18m", "alertname": "UserImportStalled", "exp_alerts": [
                 firing(doc, "UserImportStalled", {"exported_namespace": "acme", "stalled_reason": "TemplateRejected"}, value=1),
                 firing(doc, "UserImportStalled", {"exported_namespace": "acme", "stalled_reason": "TenantNotFound"}, value=2),
             ]},
             {"eval_time": "14m", "alertname": "UserImportFailed", "exp_alerts": []},
             {"eval_time": "20m", "alertname": "UserImportFailed", "exp_alerts": [
                 firing(doc, "UserImportFailed", {"exported_namespace": "acme"}, value=1)]},
             {"eval_time": "14m", "alertname": "UserImportReportDeliveryFailing", "exp_alerts": []},
             {"eval_time": "20m", "alertname": "UserImportReportDeliveryFailing", "exp_alerts": [
                 firing(doc, "UserImportReportDeliveryFailing", {"exported_namespace": "acme"}, value=1)]},
             {"eval_time": "5m", "alertname": "UserImportReportNotDelivered", "exp_alerts": [
                 firing(doc, "UserImportReportNotDelivered", {"exported_namespace": "acme", "reason": "RetriesExhausted"}, value=1)]},
             {"eval_time": "20m", "alertname": "UserImportReportNotDelivered", "exp_alerts": [
                 firing(doc, "UserImportReportNotDelivered", {"exported_namespace": "acme", "reason": "RetriesExhausted"}, value=1),
                 firing(doc, "UserImportReportNotDelivered", {"exported_namespace": "beta", "reason": "NoRecipient"}, value=1),
             ]},
         ]},
        {"name": "imports: all well, nothing fires",
         "interval": "1m",
         "input_series": [
             {"series": imports("acme", "SucceededWithProblems"), "values": "1x60"},
             {"series": imports("acme", "Running"), "values": "1x60"},
             {"series": reports("acme", "Sent", "Sent"), "values": "1x60"},
             {"series": reports("acme", "Pending", "Sending"), "values": "1x60"},
             {"series": reports("acme", "NotNeeded"), "values": "1x60"},
         ],
         "alert_rule_test": [{"eval_time": "60m", "alertname": alert, "exp_alerts": []}
                             for alert in ("UserImportStalled", "UserImportFailed",
                                           "UserImportReportDeliveryFailing", "UserImportReportNotDelivered")]},
        {"name": "leader: one of two leads, then none for a while, then none scraped at all",
         "interval": "1m",
         "input_series": [
             {"series": op("user_import_leader", pod=POD), "values": "1x20 0x20 _x20"},
             {"series": op("user_import_leader", pod=POD + "b"), "values": "0x40 _x20"},
             # Another job's leader is not this release's.
             {"series": series("user_import_leader", {"namespace": NAMESPACE, "job": "other"}), "values": "1x60"},
         ],
         "alert_rule_test": [
             {"eval_time": "20m", "alertname": "UserImportOperatorNoLeader", "exp_alerts": []},
             {"eval_time": "24m", "alertname": "UserImportOperatorNoLeader", "exp_alerts": []},
             {"eval_time": "27m", "alertname": "UserImportOperatorNoLeader", "exp_alerts": [
                 firing(doc, "UserImportOperatorNoLeader", {})]},
             {"eval_time": "55m", "alertname": "UserImportOperatorNoLeader", "exp_alerts": [
                 firing(doc, "UserImportOperatorNoLeader", {})]},
         ]},
        {"name": "leader: a handover of a minute does not fire",
         "interval": "1m",
         "input_series": [{"series": op("user_import_leader", pod=POD), "values": "1x10 0 1x20"}],
         "alert_rule_test": [{"eval_time": t, "alertname": "UserImportOperatorNoLeader", "exp_alerts": []}
                             for t in ("11m", "16m", "30m")]},
        {"name": "reconcile errors: one every 5 minutes (the back-off's cap) fires after 30m; one alone does not",
         "interval": "1m",
         "input_series": [
             {"series": op("user_import_reconcile_failures_total", error="KubeApi"), "values": "0 " + steps(5, 60)},
             {"series": op("user_import_reconcile_failures_total", error="TemplateFetch"), "values": "0x5 1x55"},
             {"series": other_job("user_import_reconcile_failures_total"), "values": "0+1x60"},
         ],
         "alert_rule_test": [
             {"eval_time": "25m", "alertname": "UserImportReconcileErrors", "exp_alerts": []},
             {"eval_time": "45m", "alertname": "UserImportReconcileErrors", "exp_alerts": [
                 firing(doc, "UserImportReconcileErrors", {"namespace": NAMESPACE, "error": "KubeApi"})]},
         ]},
        {"name": "panics: a reconcile panic and a controller restart fire at once, and clear after 15m",
         "interval": "1m",
         "input_series": [
             {"series": op("user_import_reconcile_panics_total"), "values": "0x10 1x40"},
             {"series": op("user_import_controller_restarts_total"), "values": "0x20 1x30"},
             {"series": other_job("user_import_reconcile_panics_total"), "values": "0+1x50"},
             {"series": other_job("user_import_controller_restarts_total"), "values": "0+1x50"},
         ],
         "alert_rule_test": [
             {"eval_time": "10m", "alertname": "UserImportReconcilePanicked", "exp_alerts": []},
             {"eval_time": "12m", "alertname": "UserImportReconcilePanicked", "exp_alerts": [
                 firing(doc, "UserImportReconcilePanicked", {"namespace": NAMESPACE})]},
             {"eval_time": "30m", "alertname": "UserImportReconcilePanicked", "exp_alerts": []},
             {"eval_time": "20m", "alertname": "UserImportControllerPanicked", "exp_alerts": []},
             {"eval_time": "22m", "alertname": "UserImportControllerPanicked", "exp_alerts": [
                 firing(doc, "UserImportControllerPanicked", {"namespace": NAMESPACE})]},
             {"eval_time": "40m", "alertname": "UserImportControllerPanicked", "exp_alerts": []},
         ]},
        {"name": "restarts: three in an hour fire, two do not, other pods and containers do not count",
         "interval": "1m",
         "input_series": [
             {"series": series("kube_pod_container_status_restarts_total", restarts),
              "values": "0x70 1x10 2x10 3x30"},
             {"series": series("kube_pod_container_status_restarts_total", {**restarts, "pod": POD + "b"}),
              "values": "0x80 1x10 2x30"},
             {"series": series("kube_pod_container_status_restarts_total", {**restarts, "container": "sidecar"}),
              "values": "0+1x120"},
             {"series": series("kube_pod_container_status_restarts_total", {**restarts, "pod": "other-app-7d9f8b6c4d-x2x9z"}),
              "values": "0+1x120"},
         ],
         "alert_rule_test": [
             {"eval_time": "85m", "alertname": "UserImportOperatorRestarting", "exp_alerts": []},
             {"eval_time": "100m", "alertname": "UserImportOperatorRestarting", "exp_alerts": [
                 firing(doc, "UserImportOperatorRestarting", {"namespace": NAMESPACE, "pod": POD}, value=3.05)]},
         ]},
    ]


def promtool_test(promtool: str, tmp_path: Path, doc: dict, tests: list[dict]) -> str:
    rules = rules_file(tmp_path, doc)
    suite = tmp_path / "tests.yaml"
    suite.write_text(yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": "1m",
                                     "tests": tests}, sort_keys=False))
    return run(promtool, "test", "rules", suite.name, cwd=tmp_path)


# ---------------------------------------------------------------------------------------
def test_promtool_is_the_pinned_prometheus(promtool):
    out = run(promtool, "--version")
    module = (ROOT / "tests" / "promtool" / "go.mod").read_text()
    assert "require github.com/prometheus/prometheus v0.316.0" in module
    assert re.search(r"promtool, version 3\.16\.0 ", out), out


def test_no_prometheus_rule_by_default():
    assert not [d for d in render() if d["kind"] == "PrometheusRule"]


def test_the_rule_is_what_the_operator_picks_up():
    doc = rule_doc({"prometheusRule": {"additionalLabels": {"release": "prometheus"}}})
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["metadata"]["name"] == FULLNAME and doc["metadata"]["namespace"] == NAMESPACE
    assert doc["metadata"]["labels"]["release"] == "prometheus"
    assert set(alerts_of(doc)) == ALERTS
    for name, rule in alerts_of(doc).items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert set(rule["annotations"]) == {"summary", "description"}, name
        assert "runbook_url" not in rule["annotations"]


@pytest.mark.parametrize("values", [
    {},
    {"watchNamespace": "tenant-a", "fullnameOverride": "uio",
     "prometheusRule": {"selector": 'job="custom",cluster="eu"', "stalledFor": "1h", "failedFor": "2h",
                        "reportFailingFor": "30m", "noLeaderFor": "10m", "reconcileErrorsFor": "1h",
                        "restarts": {"threshold": 5, "window": "30m"}, "alertLabels": {"team": "platform"}}},
], ids=["default", "changed"])
def test_promtool_check_rules_passes_with_every_lint(promtool, tmp_path, values):
    out = run(promtool, "check", "rules", "--lint=all", "--lint-fatal", str(rules_file(tmp_path, rule_doc(values))))
    assert f"SUCCESS: {len(ALERTS)} rules found" in out, out


def test_promtool_unit_tests_every_alert_firing_and_not(promtool, tmp_path):
    doc = rule_doc()
    suite = default_suite(doc)
    fires = {t["alertname"] for case in suite for t in case["alert_rule_test"] if t["exp_alerts"]}
    quiet = {t["alertname"] for case in suite for t in case["alert_rule_test"] if not t["exp_alerts"]}
    assert fires == ALERTS and quiet == ALERTS, (ALERTS - fires, ALERTS - quiet)
    out = promtool_test(promtool, tmp_path, doc, suite)
    assert "SUCCESS" in out, out


def test_promtool_unit_tests_the_values(promtool, tmp_path):
    """The thresholds, the selector and the alerts' extra labels. (A namespace-scoped release,
    `watchNamespace`, needs nothing more: its operator counts only the imports it watches.)"""
    doc = rule_doc({"watchNamespace": "tenant-a", "prometheusRule": {
        "stalledFor": "1h", "selector": 'job="custom"', "alertLabels": {"team": "platform"},
        "restarts": {"threshold": 1, "window": "10m"}}})
    custom = {"namespace": "ops", "job": "custom"}
    tests = [
        {"name": "values", "interval": "1m",
         "input_series": [
             {"series": imports("tenant-a", "Pending", "TenantNotFound", target=custom), "values": "1x90"},
             # Not the selector's: the default target's series.
             {"series": imports("tenant-b", "Pending", "TenantNotFound"), "values": "1x90"},
             {"series": series("user_import_leader", {"job": "custom"}), "values": "0x90"},
             {"series": series("user_import_leader", OPERATOR), "values": "1x90"},
             {"series": series("kube_pod_container_status_restarts_total",
                               {"namespace": NAMESPACE, "pod": POD, "container": "operator"}),
              "values": "0x80 1x10"},
         ],
         "alert_rule_test": [
             {"eval_time": "50m", "alertname": "UserImportStalled", "exp_alerts": []},
             {"eval_time": "65m", "alertname": "UserImportStalled", "exp_alerts": [
                 firing(doc, "UserImportStalled", {"exported_namespace": "tenant-a", "stalled_reason": "TenantNotFound"}, value=1)]},
             {"eval_time": "10m", "alertname": "UserImportOperatorNoLeader", "exp_alerts": [
                 firing(doc, "UserImportOperatorNoLeader", {})]},
             {"eval_time": "85m", "alertname": "UserImportOperatorRestarting", "exp_alerts": [
                 firing(doc, "UserImportOperatorRestarting", {"namespace": NAMESPACE, "pod": POD}, value=1.11)]},
         ]},
    ]
    assert alerts_of(doc)["UserImportStalled"]["labels"]["team"] == "platform"
    out = promtool_test(promtool, tmp_path, doc, tests)
    assert "SUCCESS" in out, out


def runbook_sections() -> dict[str, str]:
    text = TROUBLESHOOTING.read_text()
    assert "\n## Alerts\n" in text
    alerts = text.split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### (\w+)\n", alerts, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_every_alert_has_a_runbook_section():
    sections = runbook_sections()
    assert set(sections) == ALERTS
    for name, body in sections.items():
        for part in ("**What it means.**", "**What to check.**", "**What to do.**"):
            assert part in body, f"docs/troubleshooting.md#{name.lower()} has no {part}"


def test_the_values_the_rule_reads_are_documented_in_the_runbook():
    text = TROUBLESHOOTING.read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())["prometheusRule"]
    for key in ("stalledFor", "failedFor", "reportFailingFor", "noLeaderFor", "reconcileErrorsFor"):
        assert f"`prometheusRule.{key}`" in text, key
    assert "`prometheusRule.restarts.threshold`" in text and "`prometheusRule.restarts.window`" in text
    assert values["enabled"] is False


# ---------------------------------------------------------------------------------------
# What the rules and the dashboard query
# ---------------------------------------------------------------------------------------
def test_the_promql_scanner_finds_what_it_must():
    promql.self_check()


def every_query() -> list[str]:
    return list(promql.rule_exprs(rule_doc()).values()) + promql.dashboard_exprs()


def test_every_expression_parses(promtool):
    for expr in every_query():
        run(promtool, "--experimental", "promql", "format", expr)


def test_every_metric_queried_is_the_operators_or_kube_state_metrics():
    """Names outside the operator's prefix are kube-state-metrics' (the pods' restarts only),
    with the labels it gives them; the operator's own are checked against a real /metrics by
    tests/install."""
    external = promql.external_metrics()
    assert set(external) == {"kube_pod_container_status_restarts_total"}
    queries = [promql.parse(e) for e in every_query()] + promql.dashboard_variable_queries()
    seen = set()
    for query in queries:
        for metric, labels in query.selectors.items():
            seen.add(metric)
            if metric.startswith(promql.OPERATOR_PREFIX):
                continue
            assert metric in external, (metric, query.expr)
            assert labels <= external[metric] | promql.TARGET_LABELS, (metric, labels, query.expr)
        if not any(m.startswith(promql.OPERATOR_PREFIX) for m in query.metrics):
            known = set().union(*(external[m] for m in query.metrics)) | promql.TARGET_LABELS
            assert query.grouping <= known, (query.grouping, query.expr)
    assert set(external) <= seen


def test_the_per_import_queries_read_the_operators_gauges_across_replicas():
    """Only the leader has the per-import gauges, and at a handover two replicas may have them
    for a moment: every query of them takes the `max` across replicas first, so none counts an
    import twice; and none needs kube-state-metrics' custom-resource-state metrics any more."""
    gauges = ("user_import_imports", "user_import_error_reports")
    queries = list(promql.rule_exprs(rule_doc()).values()) + promql.dashboard_exprs()
    per_import = [q for q in queries if any(g in q for g in gauges)]
    assert len(per_import) >= 8, per_import
    for expr in per_import:
        assert re.search(r"max by \([^)]*\) \(user_import_(imports|error_reports)\{", expr), expr
    assert not (ROOT / "examples" / "monitoring" / "kube-state-metrics.yaml").exists()
    assert not [q for q in queries if "kube_customresource" in q]


# ---------------------------------------------------------------------------------------
# The Grafana dashboard
# ---------------------------------------------------------------------------------------
def test_no_dashboard_by_default():
    assert not [d for d in render() if d["kind"] == "ConfigMap"]


def test_dashboard_configmap_carries_the_file_for_the_sidecar():
    docs = render({"grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "Operators"}}})
    (config_map,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert config_map["metadata"]["name"] == f"{FULLNAME}-dashboard"
    assert config_map["metadata"]["namespace"] == NAMESPACE
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Operators"}
    shipped = json.loads(config_map["data"]["user-import.json"])
    assert shipped == json.loads(promql.DASHBOARD.read_text())


def test_dashboard_has_its_rows_and_a_datasource_variable():
    dashboard = json.loads(promql.DASHBOARD.read_text())
    assert dashboard["uid"] == "user-import-operator"
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert [r.split(" (")[0] for r in rows] == ["Imports", "Reconciles", "Rows and writes", "Report deliveries", "Operator"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]
