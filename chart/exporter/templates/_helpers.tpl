{{/*
How the chart turns values.config into objects. Each object template starts with
  {{- $c := include "exporter.config" . | fromJson -}}
the effective config: values.config (or the embedded default when empty) with every unset
field filled from the models' defaults (files/models.json, written by
`exporter generate chart` from the pydantic models), then the chart's deployment values laid
over config.deployment. The objects mirror exporter/generators/k8s/ (same names, specs);
tests/chart/ compares them object by object.
*/}}

{{/* The config as the user wrote it (JSON): values.config, or the embedded default; the
chart's metricsApi.register applied (the pods serve what is registered). */}}
{{- define "exporter.rawConfig" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- if not $cfg -}}
{{- $cfg = .Files.Get "files/default-config.yaml" | fromYaml -}}
{{- end -}}
{{- if kindIs "slice" .Values.metricsApi.register -}}
{{- $api := get $cfg "metrics_api" | default dict -}}
{{- $_ := set $api "register" .Values.metricsApi.register -}}
{{- $_ := set $cfg "metrics_api" $api -}}
{{- end -}}
{{- toJson $cfg -}}
{{- end -}}

{{/* A model's value with its unset fields filled, as pydantic fills them (JSON).
Args: models (files/models.json), model (a model name), value (a map). */}}
{{- define "exporter.fill" -}}
{{- $spec := index .models .model -}}
{{- $v := .value | default dict -}}
{{- $out := dict -}}
{{- range $k, $x := $v }}{{ $_ := set $out $k $x }}{{ end -}}
{{- range $name, $f := $spec -}}
{{- if hasKey $v $name -}}
{{- $x := index $v $name -}}
{{- if and (hasKey $f "model") (kindIs "map" $x) -}}
{{- if hasKey $f "over_default" -}}
{{- $m := deepCopy $f.default -}}
{{- range $k2, $x2 := $x }}{{ $_ := set $m $k2 $x2 }}{{ end -}}
{{- $x = $m -}}
{{- end -}}
{{- $_ := set $out $name (include "exporter.fill" (dict "models" $.models "model" $f.model "value" $x) | fromJson) -}}
{{- else if and (hasKey $f "items") (kindIs "slice" $x) -}}
{{- $items := list -}}
{{- range $x -}}
{{- $items = append $items (include "exporter.fill" (dict "models" $.models "model" $f.items "value" .) | fromJson) -}}
{{- end -}}
{{- $_ := set $out $name $items -}}
{{- end -}}
{{- else if hasKey $f "default" -}}
{{- $_ := set $out $name $f.default -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* YAML 1.1 reads a bare on/off as a boolean; the models map it back to the word. */}}
{{- define "exporter.onOff" -}}
{{- if kindIs "bool" . -}}{{ ternary "on" "off" . }}{{- else -}}{{ . }}{{- end -}}
{{- end -}}

{{/* The effective config (JSON): filled, then the chart's deployment values laid over. */}}
{{- define "exporter.config" -}}
{{- $models := .Files.Get "files/models.json" | fromJson -}}
{{- $raw := include "exporter.rawConfig" . | fromJson -}}
{{- $c := include "exporter.fill" (dict "models" $models "model" "Config" "value" $raw) | fromJson -}}
{{- $_ := set $c "gpu" (include "exporter.onOff" $c.gpu) -}}
{{- /* collection.interval_seconds/timeout_seconds alone: queues and health share them
(unless a kind sets its own), as Collection._single_interval does */ -}}
{{- $k := .Files.Get "files/constants.json" | fromJson -}}
{{- /* engine keda with listen.grpc left out: the scaler's default address */ -}}
{{- if and (eq $c.autoscaling.engine "keda") $k.default_grpc (not (hasKey (get $raw "listen" | default dict) "grpc")) -}}
{{- $_ := set $c.listen "grpc" $k.default_grpc -}}
{{- end -}}
{{- $col := $c.collection -}}
{{- if or (not (kindIs "invalid" $col.interval_seconds)) (not (kindIs "invalid" $col.timeout_seconds)) -}}
{{- $shared := dict "interval_seconds" ($col.interval_seconds | default $k.legacy_schedule.interval_seconds) "timeout_seconds" ($col.timeout_seconds | default $k.legacy_schedule.timeout_seconds) -}}
{{- $given := get $raw "collection" | default dict -}}
{{- range $kind := list "queues" "health" }}{{ if not (hasKey $given $kind) }}{{ $_ := set $col $kind $shared }}{{ end }}{{ end -}}
{{- end -}}
{{- $_ := set $c.kubernetes "enabled" (include "exporter.onOff" $c.kubernetes.enabled) -}}
{{- $d := $c.deployment -}}
{{- $v := .Values -}}
{{- if $v.image }}{{ $_ := set $d "image" $v.image }}{{ end -}}
{{- if $v.imagePullPolicy }}{{ $_ := set $d "image_pull_policy" $v.imagePullPolicy }}{{ end -}}
{{- if $v.replicas }}{{ $_ := set $d "replicas" $v.replicas }}{{ end -}}
{{- if $v.resources }}{{ $_ := set $d "resources" (mergeOverwrite (deepCopy $d.resources) $v.resources) }}{{ end -}}
{{- if $v.servingCertificate.secretName }}{{ $_ := set $d "serving_cert_secret" $v.servingCertificate.secretName }}{{ end -}}
{{- $g := $d.gpu_agent -}}
{{- if not $v.gpuAgent.enabled }}{{ $_ := set $g "enabled" false }}{{ end -}}
{{- if $v.gpuAgent.nodeSelector }}{{ $_ := set $g "node_selector" $v.gpuAgent.nodeSelector }}{{ end -}}
{{- if $v.gpuAgent.tolerations }}{{ $_ := set $g "tolerations" $v.gpuAgent.tolerations }}{{ end -}}
{{- if $v.gpuAgent.resources }}{{ $_ := set $g "resources" (mergeOverwrite (deepCopy $g.resources) $v.gpuAgent.resources) }}{{ end -}}
{{- $_ := set $d "prometheus_operator_labels" (merge (deepCopy $v.prometheusOperator.labels) $d.prometheus_operator_labels) -}}
{{- toJson $c -}}
{{- end -}}

{{/* The port of a host:port listen address. */}}
{{- define "exporter.port" -}}
{{- regexReplaceAll "^.*:" . "" -}}
{{- end -}}

{{/* Whether the GPU agent DaemonSet is rendered ("true" or ""). */}}
{{- define "exporter.gpuAgent" -}}
{{- if and (ne .gpu "off") .deployment.gpu_agent.enabled -}}true{{- end -}}
{{- end -}}

{{/* Whether cert-manager issues the serving certificate ("true" or ""). */}}
{{- define "exporter.certManager" -}}
{{- if and (eq .Values.servingCertificate.source "cert-manager") (not .Values.servingCertificate.caBundle) -}}true{{- end -}}
{{- end -}}

{{/* Selector labels of one part of the exporter. Args: c, component. */}}
{{- define "exporter.selector" -}}
{{- dict "app.kubernetes.io/name" .c.deployment.name "app.kubernetes.io/component" .component | toJson -}}
{{- end -}}

{{/* The labels of every object: the selector labels, managed-by Helm, the release and chart.
Args: c, component, root. */}}
{{- define "exporter.labels" -}}
{{- $l := include "exporter.selector" . | fromJson -}}
{{- $_ := set $l "app.kubernetes.io/managed-by" .root.Release.Service -}}
{{- $_ := set $l "app.kubernetes.io/instance" .root.Release.Name -}}
{{- $_ := set $l "helm.sh/chart" (printf "%s-%s" .root.Chart.Name .root.Chart.Version) -}}
{{- toJson $l -}}
{{- end -}}

{{/* metadata (JSON). Args: c, root, name, component, namespace ("" = the config's,
"-" = none: a cluster-scoped object). */}}
{{- define "exporter.meta" -}}
{{- $m := dict "name" .name -}}
{{- if ne (.namespace | default "") "-" -}}
{{- $_ := set $m "namespace" (.namespace | default .c.namespace) -}}
{{- end -}}
{{- $_ := set $m "labels" (include "exporter.labels" . | fromJson) -}}
{{- toJson $m -}}
{{- end -}}

{{/* metadata of a prometheus-operator object: also the labels its Prometheus selects on. */}}
{{- define "exporter.operatorMeta" -}}
{{- $m := include "exporter.meta" (dict "c" .c "root" .root "name" .name "component" "monitoring") | fromJson -}}
{{- $_ := set $m "labels" (merge (deepCopy .c.deployment.prometheus_operator_labels) $m.labels) -}}
{{- toJson $m -}}
{{- end -}}

{{/* A configured number as an exact Quantity: 10 -> "10", 0.5 -> "500m", 0.0005 -> "0.0005"
(exporter.metrics_api.quantity.format_exact_quantity). */}}
{{- define "exporter.quantity" -}}
{{- $f := float64 . -}}
{{- if eq $f (floor $f) -}}
{{- printf "%d" (int64 $f) -}}
{{- else -}}
{{- /* JSON writes the shortest repr (Python's digits) without an exponent from 1e-6 up */ -}}
{{- $s := toJson $f -}}
{{- if contains "e" $s -}}
{{- /* below 1e-6: written out, as Decimal's "f" does */ -}}
{{- $mant := regexReplaceAll "e.*$" $s "" -}}
{{- $exp := regexReplaceAll "^.*e-0*" $s "" | int -}}
{{- $digits := replace "." "" $mant -}}
{{- $intLen := len (regexReplaceAll "\\..*$" $mant "") -}}
{{- $s = printf "0.%s%s" (repeat (int (sub $exp $intLen)) "0") $digits -}}
{{- end -}}
{{- $parts := splitList "." $s -}}
{{- $frac := index $parts 1 -}}
{{- if le (len $frac) 3 -}}
{{- $milli := printf "%s%s" (index $parts 0) (printf "%-3s" $frac | replace " " "0") | trimPrefix "0" | trimPrefix "0" | trimPrefix "0" -}}
{{- printf "%sm" $milli -}}
{{- else -}}
{{- $s -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The pods' container resources (JSON). */}}
{{- define "exporter.resources" -}}
{{- dict "requests" (dict "cpu" .requests.cpu "memory" .requests.memory) "limits" (dict "cpu" .limits.cpu "memory" .limits.memory) | toJson -}}
{{- end -}}

{{/* The metrics-API pods' config (YAML text): the user's config with the cluster wiring
filled in (mounted serving cert, front-proxy auth from the cluster) and the local-only
parts (deployment:, kubernetes.kubeconfig) removed (pod_config.cluster_config). */}}
{{- define "exporter.clusterConfig" -}}
{{- $k := .Files.Get "files/constants.json" | fromJson -}}
{{- $data := include "exporter.rawConfig" . | fromJson -}}
{{- $_ := unset $data "deployment" -}}
{{- $kube := get $data "kubernetes" | default dict -}}
{{- $_ := unset $kube "kubeconfig" -}}
{{- if $kube }}{{ $_ := set $data "kubernetes" $kube }}{{ else }}{{ $_ := unset $data "kubernetes" }}{{ end -}}
{{- $api := get $data "metrics_api" | default dict -}}
{{- $_ := set $api "tls" (dict "cert_file" (printf "%s/tls.crt" $k.tls_dir) "key_file" (printf "%s/tls.key" $k.tls_dir)) -}}
{{- $auth := get $api "authentication" | default dict -}}
{{- $_ := set $auth "from_cluster" true -}}
{{- $_ := unset $auth "requestheader_client_ca_file" -}}
{{- $_ := set $api "authentication" $auth -}}
{{- $_ := set $data "metrics_api" $api -}}
{{- toYaml $data -}}
{{- end -}}

{{/* The GPU agents' config (YAML text): the GPU collector only, no API, Kubernetes access
only to label GPU holders (pod_config.gpu_agent_config). Arg: the effective config. */}}
{{- define "exporter.gpuAgentConfig" -}}
{{- $k := .root.Files.Get "files/constants.json" | fromJson -}}
{{- $c := .c -}}
{{- $attribution := deepCopy $c.gpu_attribution -}}
{{- $_ := set $attribution "proc_root" $k.agent_proc_root -}}
{{- $collection := dict -}}
{{- range $key, $value := $c.collection }}{{ if not (kindIs "invalid" $value) }}{{ $_ := set $collection $key $value }}{{ end }}{{ end -}}
{{- $data := dict "environment" $c.environment "namespace" $c.namespace "listen" (dict "http" $c.listen.http) "collection" $collection "gpu" "on" "metrics_api" (dict "enabled" false) "kubernetes" (dict "enabled" (ternary "auto" "off" $attribution.enabled)) "gpu_attribution" $attribution -}}
{{- toYaml $data -}}
{{- end -}}

{{/* The exporter container both workloads run (JSON). Args: c, ports (list), resources. */}}
{{- define "exporter.container" -}}
{{- $k := .root.Files.Get "files/constants.json" | fromJson -}}
{{- $d := .c.deployment -}}
{{- $probe := dict "periodSeconds" 10 "timeoutSeconds" 2 "failureThreshold" 3 "httpGet" (dict "path" "/healthz" "port" "http") -}}
{{- $ready := dict "periodSeconds" 5 "timeoutSeconds" 2 "failureThreshold" 2 "httpGet" (dict "path" "/readyz" "port" "http") -}}
{{- $security := dict "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "capabilities" (dict "drop" (list "ALL")) -}}
{{- dict "name" "exporter" "image" $d.image "imagePullPolicy" $d.image_pull_policy "command" (list "exporter") "args" (list "serve" "--config" (printf "%s/%s" $k.config_dir $k.config_key)) "ports" .ports "livenessProbe" $probe "readinessProbe" $ready "resources" (include "exporter.resources" .resources | fromJson) "securityContext" $security | toJson -}}
{{- end -}}

{{/* The pods' securityContext (JSON). */}}
{{- define "exporter.podSecurity" -}}
{{- $k := .Files.Get "files/constants.json" | fromJson -}}
{{- dict "runAsNonRoot" true "runAsUser" $k.run_as "runAsGroup" $k.run_as "fsGroup" $k.run_as "seccompProfile" (dict "type" "RuntimeDefault") | toJson -}}
{{- end -}}

{{/* One direction of an HPA's behavior (JSON). */}}
{{- define "exporter.scalingRules" -}}
{{- $policies := list -}}
{{- if not (kindIs "invalid" .percent) }}{{ $policies = append $policies (dict "type" "Percent" "value" (.percent | int) "periodSeconds" (.period_seconds | int)) }}{{ end -}}
{{- if not (kindIs "invalid" .pods) }}{{ $policies = append $policies (dict "type" "Pods" "value" (.pods | int) "periodSeconds" (.period_seconds | int)) }}{{ end -}}
{{- $out := dict "stabilizationWindowSeconds" (.stabilization_window_seconds | int) "selectPolicy" .select_policy -}}
{{- if $policies }}{{ $_ := set $out "policies" $policies }}{{ end -}}
{{- toJson $out -}}
{{- end -}}

{{/* autoscaling/v2 behavior of a class (JSON); also KEDA's horizontalPodAutoscalerConfig. */}}
{{- define "exporter.behavior" -}}
{{- dict "scaleUp" (include "exporter.scalingRules" .behavior.scale_up | fromJson) "scaleDown" (include "exporter.scalingRules" .behavior.scale_down | fromJson) | toJson -}}
{{- end -}}

{{/* The namespace a class lives in: its own `namespace`, else the top-level one. */}}
{{- define "exporter.classNamespace" -}}
{{- .cls.namespace | default .c.namespace -}}
{{- end -}}

{{/* The top-level namespace, then every other one a class names, in config order (JSON). */}}
{{- define "exporter.namespaces" -}}
{{- $out := list .namespace -}}
{{- range .component_classes }}{{ $ns := .namespace | default $.namespace }}{{ if not (has $ns $out) }}{{ $out = append $out $ns }}{{ end }}{{ end -}}
{{- toJson $out -}}
{{- end -}}

{{/* metadata of a class's autoscaler (JSON), named after its workload, in the class's
namespace (next to the workload it scales). Args: c, root, cls. */}}
{{- define "exporter.autoscalerMeta" -}}
{{- $m := include "exporter.meta" (dict "c" .c "root" .root "name" .cls.workload.name "component" "autoscaling" "namespace" (include "exporter.classNamespace" .)) | fromJson -}}
{{- $_ := set $m.labels "component_class" .cls.name -}}
{{- toJson $m -}}
{{- end -}}

{{/* (resource, utilization) of a class's CPU/memory targets that are set (JSON list). */}}
{{- define "exporter.resourceTargets" -}}
{{- $out := list -}}
{{- if not (kindIs "invalid" .cpu_utilization) }}{{ $out = append $out (list "cpu" (.cpu_utilization | int)) }}{{ end -}}
{{- if not (kindIs "invalid" .memory_utilization) }}{{ $out = append $out (list "memory" (.memory_utilization | int)) }}{{ end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The documents of a template (YAML text, `---` between them) re-emitted as plain block
YAML: the templates write flow JSON inside YAML for safe quoting; a reader of `helm
template` gets the usual layout. A document that does not parse is a chart bug: it fails. */}}
{{- define "exporter.pretty" -}}
{{- $docs := list -}}
{{- range splitList "\n---\n" (printf "\n%s\n" .) -}}
{{- $doc := fromYaml . -}}
{{- if hasKey $doc "Error" }}{{ fail (printf "exporter chart: a template wrote YAML that does not parse: %s" $doc.Error) }}{{ end -}}
{{- if $doc }}{{ $docs = append $docs (toYaml $doc) }}{{ end -}}
{{- end -}}
{{- join "\n---\n" $docs -}}
{{- end -}}
