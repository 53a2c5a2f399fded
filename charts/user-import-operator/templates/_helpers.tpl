{{/*
Chart name, truncated to 63 characters (the DNS label limit of names and label values).
*/}}
{{- define "user-import-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name, prefixed to the chart name unless it already contains it.
*/}}
{{- define "user-import-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "user-import-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Standard labels (app.kubernetes.io/*) on every object.
*/}}
{{- define "user-import-operator.labels" -}}
helm.sh/chart: {{ include "user-import-operator.chart" . }}
{{ include "user-import-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ (default .Chart.AppVersion .Values.image.tag) | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: user-import-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: stable across upgrades (a Deployment's selector is immutable).
*/}}
{{- define "user-import-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "user-import-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "user-import-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "user-import-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest when a digest is set, else repository:tag with the tag
defaulting to the chart's appVersion.
*/}}
{{- define "user-import-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "user-import-operator.leaseName" -}}
{{- default (printf "%s-leader" (include "user-import-operator.fullname" .) | trunc 63 | trimSuffix "-") .Values.leaderElection.leaseName }}
{{- end }}

{{/*
The rules the controller needs in the watched namespace(s) (ClusterRole when it watches all
namespaces, a Role otherwise): exactly the requests `user-import-operator run` makes, as
tests/chart_install.rs observes them in a real API server's audit log. Keep in step with the
expected table in tests/chart/test_chart.py.
*/}}
{{- define "user-import-operator.watchRules" -}}
# UserImports: watched (list + watch); only the status is read afresh (before a report is
# mailed, the cache may lag) and written (patch).
- apiGroups: ["riskassess.io"]
  resources: ["userimports"]
  verbs: ["list", "watch", "patch"]
# "patch" on the UserImport itself: once per import whose status an operator version before
# server-side apply wrote, its managedFields (the status fields' owner; docs/decisions.md).
- apiGroups: ["riskassess.io"]
  resources: ["userimports/status"]
  verbs: ["get", "patch"]
# Tenants: watched, and read at each reconcile (display name, administrator, SSO, SMTP).
- apiGroups: ["riskassess.io"]
  resources: ["tenants"]
  verbs: ["get", "list", "watch"]
# TenantUsers: listed once per import, written by server-side apply (a PATCH). "create":
# the API server also authorizes an apply that creates an object as "create".
- apiGroups: ["riskassess.io"]
  resources: ["tenantusers"]
  verbs: ["list", "create", "patch"]
# Template sources (configMapKeyRef / secretKeyRef) and Tenants' SMTP Secrets: watched to
# re-trigger imports, read with a GET.
- apiGroups: [""]
  resources: ["configmaps", "secrets"]
  verbs: ["get", "list", "watch"]
# Events about UserImports (kube's Recorder: events.k8s.io/v1 only).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .Values.fluxSources.enabled }}
# Flux sources (spec.template.sourceRef): their status.artifact read with a GET, and watched
# so that a new artifact revision starts a new import.
- apiGroups: ["source.toolkit.fluxcd.io"]
  resources: ["gitrepositories", "ocirepositories", "buckets", "externalartifacts"]
  verbs: ["get", "list", "watch"]
{{- end }}
{{- end }}
