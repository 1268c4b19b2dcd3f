{{/*
Names. Resources are named after the release (fullnameOverride wins), so the restore command is
`kubectl exec deploy/<release> -c supervisor -- restore.py ...`.
*/}}
{{- define "kcb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kcb.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kcb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kcb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kcb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kcb.labels" -}}
helm.sh/chart: {{ include "kcb.chart" . }}
{{ include "kcb.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "kcb.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kcb.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kcb.dataClaimName" -}}
{{- default (printf "%s-data" (include "kcb.fullname" .)) .Values.storage.existingClaim -}}
{{- end -}}

{{- define "kcb.secretName" -}}
{{- default (printf "%s-encryption" (include "kcb.fullname" .)) .Values.backup.encryption.existingSecret -}}
{{- end -}}

{{/*
Images: `repository@digest` when a digest is set (the tag is then ignored: the digest alone
says what runs), else `repository:tag`. Takes (list repository tag digest).
*/}}
{{- define "kcb.imageReference" -}}
{{- $repository := index . 0 -}}
{{- $tag := index . 1 -}}
{{- $digest := index . 2 -}}
{{- if $digest -}}
{{- printf "%s@%s" $repository $digest -}}
{{- else -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}
{{- end -}}

{{/* `image.name` (original key) still sets the whole connect image reference. */}}
{{- define "kcb.connectImage" -}}
{{- if .Values.image.name -}}
{{- .Values.image.name -}}
{{- else -}}
{{- include "kcb.imageReference" (list .Values.image.connect.repository (default .Chart.AppVersion .Values.image.connect.tag) .Values.image.connect.digest) -}}
{{- end -}}
{{- end -}}

{{/* volume-permissions: its own image if set, else the connect image (nothing new to pull). */}}
{{- define "kcb.volumePermissionsImage" -}}
{{- with .Values.volumePermissions.image -}}
{{- if .repository -}}
{{- include "kcb.imageReference" (list .repository .tag .digest) -}}
{{- else -}}
{{- include "kcb.connectImage" $ -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The owner volume-permissions gives the data volume: podSecurityContext.runAsUser:runAsGroup.
Printed as integers (%d), so nothing but digits and one colon reaches the command; kcb.validate
has checked both are whole numbers.
*/}}
{{- define "kcb.dataOwner" -}}
{{- printf "%d:%d" (int64 .Values.podSecurityContext.runAsUser) (int64 .Values.podSecurityContext.runAsGroup) -}}
{{- end -}}

{{- define "kcb.supervisorImage" -}}
{{- include "kcb.imageReference" (list .Values.image.supervisor.repository (default .Chart.AppVersion .Values.image.supervisor.tag) .Values.image.supervisor.digest) -}}
{{- end -}}

{{/*
Topics: `topic`, `topicList` (comma-separated) and `topics`, merged in that order, blanks and
duplicates dropped. Returns a JSON list (use with fromJsonArray).
*/}}
{{- define "kcb.topics" -}}
{{- $all := list -}}
{{- if .Values.topic -}}
{{- $all = append $all (toString .Values.topic | trim) -}}
{{- end -}}
{{- range (splitList "," (toString (default "" .Values.topicList))) -}}
{{- $all = append $all (trim .) -}}
{{- end -}}
{{- range .Values.topics -}}
{{- $all = append $all (toString . | trim) -}}
{{- end -}}
{{- $topics := list -}}
{{- range $all -}}
{{- if and . (not (has . $topics)) -}}
{{- $topics = append $topics . -}}
{{- end -}}
{{- end -}}
{{- toJson $topics -}}
{{- end -}}

{{- define "kcb.bootstrapServers" -}}
{{- if .Values.kafka.bootstrapServers -}}
{{- .Values.kafka.bootstrapServers -}}
{{- else -}}
{{- printf "%s.%s.svc:%v" .Values.kafkaSvcName .Values.kafkaSvcNamespace .Values.kafka.port -}}
{{- end -}}
{{- end -}}

{{/* Log levels: Log4j2 for Connect, Python logging names for the supervisor. */}}
{{- define "kcb.connectLogLevel" -}}
{{- $level := upper (toString .Values.loglevel) -}}
{{- if eq $level "WARNING" }}WARN{{ else }}{{ $level }}{{ end -}}
{{- end -}}

{{- define "kcb.supervisorLogLevel" -}}
{{- $level := upper (toString (default .Values.loglevel .Values.supervisor.logLevel)) -}}
{{- if eq $level "TRACE" }}DEBUG{{ else if eq $level "WARN" }}WARNING{{ else }}{{ $level }}{{ end -}}
{{- end -}}

{{/* restartTimeout in seconds (GNU timeout form: N, Ns, Nm, Nh, Nd). */}}
{{- define "kcb.restartTimeoutSeconds" -}}
{{- include "kcb.durationSeconds" .Values.restartTimeout -}}
{{- end -}}

{{/* Seconds of a GNU timeout style duration (30s, 90m, 23h, 1d, or bare seconds). */}}
{{- define "kcb.durationSeconds" -}}
{{- $text := toString . | trim -}}
{{- $units := dict "s" 1 "m" 60 "h" 3600 "d" 86400 -}}
{{- $unit := "s" -}}
{{- if regexMatch "[smhd]$" $text -}}
{{- $unit = regexFind "[smhd]$" $text -}}
{{- end -}}
{{- $number := trimSuffix $unit $text | float64 -}}
{{- mulf $number (get $units $unit) | int64 -}}
{{- end -}}

{{/*
The capabilities of the supervisor in backup.fuse.mode devicePlugin (all others dropped), as a
JSON list: SYS_ADMIN for mount(2) of the FUSE view, and nothing else. Root without capabilities
is an ordinary user to the kernel, so nothing the cycle does relies on root's file rights:
snapshots are root's own (rsync --no-owner --no-group); the Connect user's sinkPath and files
are group-writable (the sink-dir init container's chmod g+ws, Connect's umask 002) for the
pod's fsGroup, which the supervisor holds as a supplementary group, so it may create the
compressed files and hard-link the sink files (fs.protected_hardlinks); a backup volume that
still holds the Connect user's files from an earlier release is refused with the fix
(supervisor/backup/ownership.py).
*/}}
{{- define "kcb.fuseCapabilities" -}}
{{- toJson (list "SYS_ADMIN") -}}
{{- end -}}

{{/* Mount paths inside the containers; the supervisor config refers to the same constants. */}}
{{- define "kcb.targetDir" -}}/mnt/backup_nfs_enc{{- end -}}
{{- define "kcb.mountPoint" -}}/mnt/backup{{- end -}}
{{- define "kcb.secretDir" -}}/etc/encrypt-key{{- end -}}
{{- define "kcb.passwordFile" -}}/etc/encrypt-key/password{{- end -}}
{{- define "kcb.supervisorConfigDir" -}}/etc/kcb{{- end -}}
{{- define "kcb.connectConfigDir" -}}/etc/kafka-connect{{- end -}}
{{- define "kcb.workDir" -}}/tmp/kcb{{- end -}}

{{/*
Kafka security (kafka.tls, kafka.authentication). Every Secret key the settings need is mounted,
read-only and with a fixed file name, by one projected volume `kafka-credentials` at
kcb.kafkaDir in both containers; the configs hold only these paths.
*/}}
{{- define "kcb.kafkaDir" -}}/etc/kcb/kafka{{- end -}}
{{- define "kcb.kafkaAuthDir" -}}/etc/kcb/kafka/auth{{- end -}}
{{- define "kcb.saslTypes" -}}{{ toJson (list "scram-sha-256" "scram-sha-512" "plain") }}{{- end -}}
{{- define "kcb.authenticationTypes" -}}{{ toJson (list "tls" "scram-sha-256" "scram-sha-512" "plain" "oauth") }}{{- end -}}

{{/* The mounted trusted certificates, in kafka.tls.trustedCertificates order (a JSON list). */}}
{{- define "kcb.kafkaTrustedCertificateFiles" -}}
{{- $files := list -}}
{{- if .Values.kafka.tls.enabled -}}
{{- range $i, $_ := .Values.kafka.tls.trustedCertificates -}}
{{- $files = append $files (printf "%s/trusted/%d/ca.crt" (include "kcb.kafkaDir" $) $i) -}}
{{- end -}}
{{- end -}}
{{- toJson $files -}}
{{- end -}}

{{/*
The sources of the `kafka-credentials` projected volume (a JSON list; empty: no volume): each
Secret key the settings name, at its fixed path below kcb.kafkaDir.
*/}}
{{- define "kcb.kafkaCredentialSources" -}}
{{- $sources := list -}}
{{- if .Values.kafka.tls.enabled -}}
{{- range $i, $cert := .Values.kafka.tls.trustedCertificates -}}
{{- $items := list (dict "key" (toString $cert.certificate) "path" (printf "trusted/%d/ca.crt" $i)) -}}
{{- $sources = append $sources (dict "secret" (dict "name" (toString $cert.secretName) "items" $items)) -}}
{{- end -}}
{{- end -}}
{{- with .Values.kafka.authentication -}}
{{- if has .type (include "kcb.saslTypes" $ | fromJsonArray) -}}
{{- $items := list (dict "key" (toString .passwordSecret.password) "path" "auth/password") -}}
{{- $sources = append $sources (dict "secret" (dict "name" (toString .passwordSecret.secretName) "items" $items)) -}}
{{- else if eq .type "tls" -}}
{{- $items := list (dict "key" (toString .certificateAndKey.certificate) "path" "auth/user.crt") (dict "key" (toString .certificateAndKey.key) "path" "auth/user.key") -}}
{{- $sources = append $sources (dict "secret" (dict "name" (toString .certificateAndKey.secretName) "items" $items)) -}}
{{- else if eq .type "oauth" -}}
{{- $items := list (dict "key" (toString .clientSecret.key) "path" "auth/client-secret") -}}
{{- $sources = append $sources (dict "secret" (dict "name" (toString .clientSecret.secretName) "items" $items)) -}}
{{- end -}}
{{- end -}}
{{- toJson $sources -}}
{{- end -}}

{{/*
Mode of the mounted credentials: owner root, group the pod's fsGroup, so 0440 lets the
Connect user (and a non-root supervisor) read them through fsGroup, their supplementary group,
and a root supervisor as the owner (it needs no DAC_OVERRIDE). Without an fsGroup the files
stay root:root and only 0444 lets a non-root container read them.
*/}}
{{- define "kcb.kafkaCredentialsMode" -}}
{{- $context := .Values.podSecurityContext | default dict -}}
{{- if kindIs "invalid" (index $context "fsGroup") -}}0444{{- else -}}0440{{- end -}}
{{- end -}}

{{/*
The Kafka client properties of kafka.tls and kafka.authentication, unprefixed, as a JSON map
(empty for a plaintext cluster). Credentials are ${directory:<dir>:<file>} references that
Connect resolves through Kafka's DirectoryConfigProvider (config.providers, rendered once by
configmap-connect.yaml), so the ConfigMap never holds a secret. Several trusted certificates are
one PEM value: the references are joined by `\n`, a newline escape of the properties format,
because Kafka's PEM parser needs whitespace after each END line (a file without a final newline
would swallow the next certificate's BEGIN line).
*/}}
{{- define "kcb.kafkaClientProperties" -}}
{{- $props := dict -}}
{{- $tls := .Values.kafka.tls.enabled -}}
{{- $auth := .Values.kafka.authentication -}}
{{- $sasl := has $auth.type (list "scram-sha-256" "scram-sha-512" "plain" "oauth") -}}
{{- $dir := include "kcb.kafkaAuthDir" . -}}
{{- if or $tls $auth.type -}}
{{- $_ := set $props "security.protocol" (ternary (ternary "SASL_SSL" "SSL" $sasl) "SASL_PLAINTEXT" $tls) -}}
{{- end -}}
{{- $trusted := include "kcb.kafkaTrustedCertificateFiles" . | fromJsonArray -}}
{{- if $trusted -}}
{{- $refs := list -}}
{{- range $trusted -}}
{{- $refs = append $refs (printf "${directory:%s:%s}" (dir .) (base .)) -}}
{{- end -}}
{{- $_ := set $props "ssl.truststore.type" "PEM" -}}
{{- $_ := set $props "ssl.truststore.certificates" (join "\\n" $refs) -}}
{{- end -}}
{{- if eq $auth.type "tls" -}}
{{- $_ := set $props "ssl.keystore.type" "PEM" -}}
{{- $_ := set $props "ssl.keystore.certificate.chain" (printf "${directory:%s:user.crt}" $dir) -}}
{{- $_ := set $props "ssl.keystore.key" (printf "${directory:%s:user.key}" $dir) -}}
{{- else if hasPrefix "scram-" $auth.type -}}
{{- $_ := set $props "sasl.mechanism" (upper $auth.type) -}}
{{- $_ := set $props "sasl.jaas.config" (printf "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"%s\" password=\"${directory:%s:password}\";" (toString $auth.username) $dir) -}}
{{- else if eq $auth.type "plain" -}}
{{- $_ := set $props "sasl.mechanism" "PLAIN" -}}
{{- $_ := set $props "sasl.jaas.config" (printf "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"%s\" password=\"${directory:%s:password}\";" (toString $auth.username) $dir) -}}
{{- else if eq $auth.type "oauth" -}}
{{- /* Kafka 4.x: the client credentials are configs of their own (the JAAS options clientId,
     clientSecret and scope are deprecated and logged as such); the token endpoint must be in
     the JVM's org.apache.kafka.sasl.oauthbearer.allowed.urls (kcb.connectEnv). */ -}}
{{- $_ := set $props "sasl.mechanism" "OAUTHBEARER" -}}
{{- $_ := set $props "sasl.login.callback.handler.class" "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler" -}}
{{- $_ := set $props "sasl.jaas.config" "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;" -}}
{{- $_ := set $props "sasl.oauthbearer.token.endpoint.url" (toString $auth.tokenEndpointUri) -}}
{{- $_ := set $props "sasl.oauthbearer.client.credentials.client.id" (toString $auth.clientId) -}}
{{- $_ := set $props "sasl.oauthbearer.client.credentials.client.secret" (printf "${directory:%s:client-secret}" $dir) -}}
{{- if $auth.scope -}}
{{- $_ := set $props "sasl.oauthbearer.scope" (toString $auth.scope) -}}
{{- end -}}
{{- end -}}
{{- toJson $props -}}
{{- end -}}

{{/*
The connect container's environment (a JSON list): connect.extraEnv, and with
kafka.authentication.type oauth a JDK_JAVA_OPTIONS (read by the java launcher) allowing the
token endpoint, `-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=<url>` (Kafka 4.x allows no
URL by default). A JDK_JAVA_OPTIONS of connect.extraEnv is appended to it (a later -D wins).
*/}}
{{- define "kcb.connectEnv" -}}
{{- $env := list -}}
{{- $auth := .Values.kafka.authentication -}}
{{- if eq $auth.type "oauth" -}}
{{- $options := printf "-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=%s" (toString $auth.tokenEndpointUri) -}}
{{- $rest := list -}}
{{- range .Values.connect.extraEnv -}}
{{- if eq (toString .name) "JDK_JAVA_OPTIONS" -}}
{{- if or (hasKey . "valueFrom") (not (hasKey . "value")) -}}
{{- fail "connect.extraEnv: JDK_JAVA_OPTIONS must be a plain value with kafka.authentication.type oauth (the chart prepends the token endpoint's -Dorg.apache.kafka.sasl.oauthbearer.allowed.urls to it); or put JVM options in JAVA_TOOL_OPTIONS" -}}
{{- end -}}
{{- $options = printf "%s %s" $options (toString .value) -}}
{{- else -}}
{{- $rest = append $rest . -}}
{{- end -}}
{{- end -}}
{{- $env = prepend $rest (dict "name" "JDK_JAVA_OPTIONS" "value" $options) -}}
{{- else -}}
{{- $env = .Values.connect.extraEnv | default (list) -}}
{{- end -}}
{{- toJson $env -}}
{{- end -}}

{{/*
Refuses a literal secret in a map that lands in a ConfigMap (connect.workerProperties,
connect.connectorConfig), whatever kafka.authentication says: a password, key or client secret
property (plain or prefixed: consumer., admin., producer., *.override.) whose value is not
entirely a ${provider:path:key} reference, and a JAAS config with a password= or *secret=
option that is not one. The message never shows the value. Takes (list "<key>" <map>).
*/}}
{{- define "kcb.refuseLiteralSecrets" -}}
{{- $where := index . 0 -}}
{{- $secretNames := list "ssl.key.password" "ssl.keystore.password" "ssl.truststore.password" "ssl.keystore.key" "sasl.oauthbearer.client.secret" "sasl.oauthbearer.client.credentials.client.secret" "sasl.oauthbearer.assertion.private.key.passphrase" "basic.auth.user.info" -}}
{{- $reference := "^\\$\\{[^}]+\\}$" -}}
{{- $fix := "secrets never go in a ConfigMap: use kafka.authentication with a Secret (or a ${directory:...} reference to a mounted file)" -}}
{{- range $key, $raw := index . 1 -}}
{{- $value := toString $raw | trim -}}
{{- range $secretNames -}}
{{- if and (or (eq $key .) (hasSuffix (printf ".%s" .) $key)) $value (not (regexMatch $reference $value)) -}}
{{- fail (printf "%s.%s: holds a literal secret; %s" $where $key $fix) -}}
{{- end -}}
{{- end -}}
{{- if or (eq $key "sasl.jaas.config") (hasSuffix ".sasl.jaas.config" $key) -}}
{{- range regexFindAll "(?i)[A-Za-z0-9_.-]*(password|secret)\\s*=\\s*(\"[^\"]*\"|[^\\s;\"]+)" $value -1 -}}
{{- $option := regexReplaceAll "^[^=]*=\\s*" . "" | trimAll "\"" -}}
{{- if not (regexMatch $reference $option) -}}
{{- fail (printf "%s.%s: holds a literal secret (a JAAS password or secret option); %s" $where $key $fix) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* True ("true") when sinkPath is not under storage.mountPath, so the volume is mounted there too. */}}
{{- define "kcb.sinkPathOutsideData" -}}
{{- $mount := trimSuffix "/" .Values.storage.mountPath -}}
{{- $sink := trimSuffix "/" .Values.sinkPath -}}
{{- if not (or (eq $sink $mount) (hasPrefix (printf "%s/" $mount) $sink)) -}}true{{- end -}}
{{- end -}}

{{/*
The data volume's mounts, the same in every container that touches the sink files: its root at
storage.mountPath, and again at sinkPath when sinkPath is outside it. Paths are quoted: a path
is a plain string, whatever YAML syntax it holds.
*/}}
{{- define "kcb.dataVolumeMounts" -}}
- name: data
  mountPath: {{ .Values.storage.mountPath | quote }}
{{- if include "kcb.sinkPathOutsideData" . }}
- name: data
  mountPath: {{ .Values.sinkPath | quote }}
{{- end }}
{{- end -}}

{{/*
Checks the schema cannot express (or that must hold even with --skip-schema-validation). Each
message names the key and the fix. Included by every template that depends on them.
*/}}
{{- define "kcb.validate" -}}
{{- $topics := include "kcb.topics" . | fromJsonArray -}}
{{- if not $topics -}}
{{- fail "topics: at least one topic is required: set topic, topicList (comma-separated) or topics" -}}
{{- end -}}
{{- range $topics -}}
{{- if or (not (regexMatch "^[a-zA-Z0-9._-]{1,249}$" .)) (has . (list "." "..")) -}}
{{- fail (printf "topics: %q is not a valid Kafka topic name (letters, digits, '.', '_', '-'; at most 249; not '.' or '..'): check topic, topicList and topics" .) -}}
{{- end -}}
{{- end -}}
{{- if not (has (int .Values.replicaCount) (list 0 1)) -}}
{{- fail (printf "replicaCount: must be 0 or 1 (two pods would write the same sink files), got %v" .Values.replicaCount) -}}
{{- end -}}
{{- if not (regexMatch "^([0-9]*[1-9][0-9]*(\\.[0-9]+)?|[0-9]+\\.[0-9]*[1-9][0-9]*)[smhd]?$" (toString .Values.restartTimeout | trim)) -}}
{{- fail (printf "restartTimeout: %q is not a duration: use a number greater than zero with an optional unit s, m, h or d (for example 30s, 90m, 23h, 1d)" (toString .Values.restartTimeout)) -}}
{{- end -}}
{{- range $key, $value := dict "restartTimeout" .Values.restartTimeout "connect.holdWarnAfter" .Values.connect.holdWarnAfter -}}
{{- $text := toString $value | trim -}}
{{- $unit := regexFind "[smhd]$" $text | default "s" -}}
{{- $seconds := mulf (trimSuffix $unit $text | float64) (get (dict "s" 1 "m" 60 "h" 3600 "d" 86400) $unit) -}}
{{- if lt $seconds 1.0 -}}
{{- fail (printf "%s: %q is shorter than 1s" $key $text) -}}
{{- end -}}
{{- /* The supervisor's limit (config.py MAX_DURATION_DAYS): a longer wait never ends. */ -}}
{{- if gt $seconds 31622400.0 -}}
{{- fail (printf "%s: %q is longer than 366d: use at most 366d" $key $text) -}}
{{- end -}}
{{- end -}}
{{- $reconcile := .Values.supervisor.reconcileIntervalSeconds -}}
{{- if not (and (or (kindIs "float64" $reconcile) (kindIs "int64" $reconcile) (kindIs "int" $reconcile)) (gt (float64 $reconcile) 0.0) (le (float64 $reconcile) 300.0)) -}}
{{- fail (printf "supervisor.reconcileIntervalSeconds: %v must be a number above 0 and at most 300: connectors a Connect restart lost are recreated only by the reconcile, while the status says HEALTHY" $reconcile) -}}
{{- end -}}
{{- if .Values.kafka.bootstrapServers -}}
{{- range splitList "," (toString .Values.kafka.bootstrapServers) -}}
{{- $server := trim . -}}
{{- if regexMatch "[\\x00-\\x1f\\x7f]" $server -}}
{{- fail (printf "kafka.bootstrapServers: %q must not contain control characters (newline, tab, ...)" (toString $.Values.kafka.bootstrapServers)) -}}
{{- end -}}
{{- if contains "://" $server -}}
{{- fail (printf "kafka.bootstrapServers: %q is a URL: give host:port, no scheme" $server) -}}
{{- end -}}
{{- if not (regexMatch "^([^:\\[\\]\\s]+|\\[[0-9A-Fa-f:.]+\\]):[0-9]{1,5}$" $server) -}}
{{- fail (printf "kafka.bootstrapServers: %q is not host:port: write each server with its port, e.g. %s:9092 (Connect's worker refuses a host alone)" $server (regexReplaceAll ":[^\\]]*$" $server "")) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- include "kcb.validateNameLengths" . -}}
{{- range $key, $path := dict "sinkPath" .Values.sinkPath "storage.mountPath" .Values.storage.mountPath -}}
{{- if not (hasPrefix "/" $path) -}}
{{- fail (printf "%s: %q must be an absolute path" $key $path) -}}
{{- end -}}
{{- if eq (trimAll "/" $path) "" -}}
{{- fail (printf "%s: %q is the root directory: give the directory of its own (e.g. /data/filesink)" $key $path) -}}
{{- end -}}
{{- /* A newline would reach the manifest (mount paths) and the configs. */ -}}
{{- if regexMatch "[\\x00-\\x1f\\x7f]" $path -}}
{{- fail (printf "%s: %q must not contain control characters (newline, tab, ...)" $key $path) -}}
{{- end -}}
{{- end -}}
{{- if .Values.volumePermissions.enabled -}}
{{- $context := .Values.podSecurityContext | default dict -}}
{{- range $key := list "runAsUser" "runAsGroup" -}}
{{- if not (hasKey $context $key) -}}
{{- fail (printf "volumePermissions.enabled: set podSecurityContext.%s (the data volume is chowned to runAsUser:runAsGroup)" $key) -}}
{{- end -}}
{{- $id := get $context $key -}}
{{- /* Values files give float64, --set int64; 1000.5, "1000; id" and a missing key fail. */ -}}
{{- $number := or (kindIs "float64" $id) (kindIs "int64" $id) (kindIs "int" $id) -}}
{{- if not (and $number (eq (float64 $id) (float64 (int64 $id))) (ge (float64 $id) 0.0)) -}}
{{- fail (printf "volumePermissions.enabled: podSecurityContext.%s must be a whole number at least 0 (the data volume is chowned to runAsUser:runAsGroup), got %s" $key (ternary (printf "%q" (toString $id)) (toString $id) (kindIs "string" $id))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with .Values.volumePermissions.image -}}
{{- if and .repository (not .tag) (not .digest) -}}
{{- fail (printf "volumePermissions.image.tag: set a tag for volumePermissions.image.repository %q (or leave the repository empty to use the connect image)" .repository) -}}
{{- end -}}
{{- if and .digest (not .repository) -}}
{{- fail "volumePermissions.image.digest: set volumePermissions.image.repository too (with an empty repository the init container runs the connect image, pinned by image.connect.digest)" -}}
{{- end -}}
{{- end -}}
{{- range $key, $digest := dict "image.connect.digest" .Values.image.connect.digest "image.supervisor.digest" .Values.image.supervisor.digest "volumePermissions.image.digest" .Values.volumePermissions.image.digest -}}
{{- if and $digest (not (regexMatch "^sha256:[a-f0-9]{64}$" (toString $digest))) -}}
{{- fail (printf "%s: %q is not an image digest: use sha256: and 64 lowercase hex digits (as `docker buildx imagetools inspect` or `crane digest` print it)" $key (toString $digest)) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.image.name .Values.image.connect.digest -}}
{{- fail "image.connect.digest: image.name (original key) is set and is the whole connect image reference: put the digest in it (repository@sha256:...) or clear image.name to use image.connect.repository" -}}
{{- end -}}
{{- if and (eq .Values.backup.fuse.mode "devicePlugin") (not .Values.backup.fuse.resourceName) -}}
{{- fail "backup.fuse.resourceName: devicePlugin mode needs the FUSE device plugin's resource name (for example smarter-devices/fuse)" -}}
{{- end -}}
{{- if .Values.backup.enabled -}}
{{- if not (or .Values.encryptPassword .Values.backup.encryption.existingSecret) -}}
{{- fail "backup.enabled: a backup needs an encryption password and there is no default: set backup.encryption.existingSecret (a Secret with key backup.encryption.existingSecretKey) or encryptPassword" -}}
{{- end -}}
{{- if and (or .Values.backup.nfs.server .Values.backup.nfs.path) (not (and .Values.backup.nfs.server .Values.backup.nfs.path)) -}}
{{- fail "backup.nfs: an NFS target needs both backup.nfs.server and backup.nfs.path" -}}
{{- end -}}
{{- if and .Values.targetPvcName (or .Values.backup.nfs.server .Values.backup.nfs.path) -}}
{{- fail "targetPvcName: set either targetPvcName or backup.nfs.server/backup.nfs.path as the backup target, not both" -}}
{{- end -}}
{{- if not (or .Values.targetPvcName (and .Values.backup.nfs.server .Values.backup.nfs.path)) -}}
{{- fail "backup.enabled: a backup needs a target: set targetPvcName (an existing PVC) or both backup.nfs.server and backup.nfs.path" -}}
{{- end -}}
{{- end -}}
{{- include "kcb.validateKafka" . -}}
{{- include "kcb.validateKeep" . -}}
{{- include "kcb.validateConnectorConfig" . -}}
{{- include "kcb.validateWorkerProperties" . -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled: the ServiceMonitor scrapes the metrics Service: set metrics.service.enabled=true" -}}
{{- end -}}
{{- if and .Values.metrics.prometheusRule.enabled (not .Values.metrics.serviceMonitor.enabled) -}}
{{- fail "metrics.prometheusRule.enabled: the alerts need the supervisor's metrics scraped: set metrics.serviceMonitor.enabled=true" -}}
{{- end -}}
{{- end -}}

{{/*
backup.keep and backup.keepAt (the supervisor refuses the same, config.py): known levels with
whole counts 1..1000; each level's period (hourly 1h, daily 1d, weekly 7d, monthly 28d) at least
restartTimeout, as the lowest level is taken every cycle; a level feeding a higher one keeps at
least 2 (rsnapshot refuses "must be above 1"); keepAt a time of day. And
metrics.prometheusRule.recoveryPointMaxAge a duration.
*/}}
{{- define "kcb.validateKeep" -}}
{{- $keep := .Values.backup.keep | default dict -}}
{{- if not (kindIs "map" $keep) -}}
{{- fail (printf "backup.keep: %v is not a mapping: use e.g. {hourly: 24, daily: 7}, or {} for backup.retention's one level" $keep) -}}
{{- end -}}
{{- $levels := list "hourly" "daily" "weekly" "monthly" -}}
{{- $periods := dict "hourly" 3600 "daily" 86400 "weekly" 604800 "monthly" 2419200 -}}
{{- $periodNames := dict "hourly" "1h" "daily" "1d" "weekly" "7d" "monthly" "28d" -}}
{{- range $level, $count := $keep -}}
{{- if not (has $level $levels) -}}
{{- fail (printf "backup.keep.%s: unknown level %q: use any of hourly, daily, weekly, monthly" $level $level) -}}
{{- end -}}
{{- $number := or (kindIs "float64" $count) (kindIs "int64" $count) (kindIs "int" $count) -}}
{{- if not (and $number (eq (float64 $count) (float64 (int64 $count))) (ge (float64 $count) 1.0) (le (float64 $count) 1000.0)) -}}
{{- fail (printf "backup.keep.%s: %v must be a whole number from 1 to 1000" $level $count) -}}
{{- end -}}
{{- end -}}
{{- $restart := toString .Values.restartTimeout | trim -}}
{{- $restartSeconds := include "kcb.restartTimeoutSeconds" . | float64 -}}
{{- $configured := list -}}
{{- range $levels -}}
{{- if hasKey $keep . -}}
{{- $configured = append $configured . -}}
{{- if gt $restartSeconds (float64 (get $periods .)) -}}
{{- fail (printf "backup.keep.%s needs restartTimeout of at most %s (it is %s): lower restartTimeout or remove backup.keep.%s" . (get $periodNames .) $restart .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $index, $level := $configured -}}
{{- if and (lt (add1 $index) (len $configured)) (lt (float64 (get $keep $level)) 2.0) -}}
{{- fail (printf "backup.keep.%s: %s is %v but feeds %s: a level that feeds a higher one keeps at least 2 (rsnapshot refuses 1); raise backup.keep.%s to 2 or more" $level $level (get $keep $level) (index $configured (add1 $index)) $level) -}}
{{- end -}}
{{- end -}}
{{- if not (regexMatch "^([01][0-9]|2[0-3]):[0-5][0-9]$" (toString .Values.backup.keepAt)) -}}
{{- fail (printf "backup.keepAt: %q is not a time of day: write HH:MM (UTC), e.g. 00:00 or 03:30" (toString .Values.backup.keepAt)) -}}
{{- end -}}
{{- with .Values.metrics.prometheusRule.recoveryPointMaxAge -}}
{{- if not (regexMatch "^([0-9]*[1-9][0-9]*(\\.[0-9]+)?|[0-9]+\\.[0-9]*[1-9][0-9]*)[smhd]?$" (toString . | trim)) -}}
{{- fail (printf "metrics.prometheusRule.recoveryPointMaxAge: %q is not a duration: use a number greater than zero with an optional unit s, m, h or d (for example 90m, 2h, 1d), or empty for 2 x restartTimeout" (toString .)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
connect.workerProperties: nothing the chart sets itself, and no broker security or credential
provider beside the chart's (kafka.tls, kafka.authentication).
*/}}
{{- define "kcb.validateWorkerProperties" -}}
{{- if hasKey .Values.connect.workerProperties "listeners" -}}
{{- fail "connect.workerProperties.listeners: the REST listener is fixed to 127.0.0.1 for the supervisor; set connect.restPort instead" -}}
{{- end -}}
{{- /* Properties the backup depends on: the supervisor and restore.py read the same cluster,
     the sink files hold the records' strings, the offsets live on the data volume. */ -}}
{{- $owned := dict
  "plugin.path" "set connect.pluginPath instead"
  "bootstrap.servers" "set kafka.bootstrapServers instead (the supervisor and restore.py use it too)"
  "key.converter" "the sink files hold the records as strings: the backup and restore depend on the StringConverter"
  "value.converter" "the sink files hold the records as strings: the backup and restore depend on the StringConverter"
  "key.converter.schemas.enable" "the sink files hold the records as strings: the backup and restore depend on the StringConverter"
  "value.converter.schemas.enable" "the sink files hold the records as strings: the backup and restore depend on the StringConverter"
  "offset.storage.file.filename" "the offsets live on the data volume, beside the sink files (storage.mountPath)"
-}}
{{- range $key, $why := $owned -}}
{{- if hasKey $.Values.connect.workerProperties $key -}}
{{- fail (printf "connect.workerProperties.%s: set by the chart; %s" $key $why) -}}
{{- end -}}
{{- end -}}
{{- /* Broker security: kafka.tls and kafka.authentication only. A literal secret is refused
     whatever they say (this is a ConfigMap); with them set, workerProperties may not set what
     the chart renders for the worker and each of its clients. */ -}}
{{- include "kcb.refuseLiteralSecrets" (list "connect.workerProperties" .Values.connect.workerProperties) -}}
{{- $security := include "kcb.kafkaClientProperties" . | fromJson -}}
{{- $credentials := include "kcb.kafkaCredentialSources" . | fromJsonArray -}}
{{- range $key, $_ := .Values.connect.workerProperties -}}
{{- $bare := regexReplaceAll "^(consumer|admin|producer)\\." $key "" -}}
{{- if and $security (or (eq $bare "security.protocol") (hasPrefix "sasl." $bare) (hasPrefix "ssl." $bare)) -}}
{{- fail (printf "connect.workerProperties.%s: the brokers' security is set by the chart from kafka.tls and kafka.authentication (for the worker and its consumer., admin. and producer. clients); use those instead" $key) -}}
{{- end -}}
{{- if and $credentials (hasPrefix "config.providers.directory." $key) -}}
{{- fail (printf "connect.workerProperties.%s: the config provider alias directory is the chart's (it reads the mounted Kafka credentials); give yours another alias" $key) -}}
{{- end -}}
{{- end -}}
{{- if $credentials -}}
{{- range splitList "," (toString (get .Values.connect.workerProperties "config.providers" | default "")) -}}
{{- if eq (trim .) "directory" -}}
{{- fail "connect.workerProperties.config.providers: the config provider alias directory is the chart's (it reads the mounted Kafka credentials); give yours another alias" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
connect.connectorConfig: no key the supervisor sets itself, config names only, no control
characters, no literal secret.
*/}}
{{- define "kcb.validateConnectorConfig" -}}
{{- range $key, $value := .Values.connect.connectorConfig -}}
{{- if has $key (list "name" "connector.class" "tasks.max" "topics" "topics.regex" "file") -}}
{{- fail (printf "connect.connectorConfig.%s: set by the supervisor for each topic's FileStreamSink (its name, class, single task, topic and monthly file); leave it out" $key) -}}
{{- end -}}
{{- if and (eq $.Values.sinkFormat "envelope") (or (has $key (list "key.converter" "value.converter" "header.converter" "transforms")) (hasPrefix "transforms." $key)) -}}
{{- fail (printf "connect.connectorConfig.%s: with sinkFormat envelope the supervisor sets the converters (ByteArrayConverter) and the envelope transform itself; leave it out" $key) -}}
{{- end -}}
{{- if not (regexMatch "^[A-Za-z0-9][A-Za-z0-9._-]*$" $key) -}}
{{- fail (printf "connect.connectorConfig: %q is not a config name: use letters, digits, '.', '_' and '-' only" $key) -}}
{{- end -}}
{{- if regexMatch "[\\x00-\\x1f\\x7f]" (toString $value) -}}
{{- fail (printf "connect.connectorConfig.%s: %q must not contain control characters (newline, tab, ...)" $key (toString $value)) -}}
{{- end -}}
{{- end -}}
{{- include "kcb.refuseLiteralSecrets" (list "connect.connectorConfig" .Values.connect.connectorConfig) -}}
{{- end -}}

{{/*
Each topic's longest file names (as config.py file_name_problem computes them): the temporary
file of a compressed file, `{topic}-{sinkName}-{period}[.envelope].sink-{epoch}.gz` (epochs
have 10 digits), is `.{file}.kcb-tmp` on the data volume (255 bytes a name) and
`.kcb-copy-{file}.part` on the backup volume (encfs stores 175 bytes a name, gocryptfs 255;
auto checks gocryptfs, a new volume's, and the supervisor checks an existing volume's engine).
*/}}
{{- define "kcb.validateNameLengths" -}}
{{- $period := get (dict "monthly" 7 "daily" 10 "hourly" 13) (toString .Values.sinkRotation) -}}
{{- $marker := ternary 9 0 (eq (toString .Values.sinkFormat) "envelope") -}}
{{- $engine := toString .Values.backup.encryption.engine -}}
{{- $copyMost := ternary 175 255 (eq $engine "encfs") -}}
{{- range include "kcb.topics" . | fromJsonArray -}}
{{- $file := add (len .) 1 (len (toString $.Values.sinkName)) 1 $period $marker 5 14 -}}
{{- $dataExcess := sub (add $file 9) 255 -}}
{{- if gt $dataExcess 0 -}}
{{- fail (printf "topics: %q (%d characters) is too long for its files' names on the data volume: .{file}.kcb-tmp of a compressed file takes %d bytes, at most 255 fit (fix: a topic of at most %d characters, or a shorter sinkName)" . (len .) (add $file 9) (sub (len .) $dataExcess)) -}}
{{- end -}}
{{- $copyExcess := sub (add $file 15) $copyMost -}}
{{- if and $.Values.backup.enabled (gt $copyExcess 0) -}}
{{- fail (printf "topics: %q (%d characters) is too long for its files' names on the %s backup volume: .kcb-copy-{file}.part of a compressed file takes %d bytes, at most %d fit (fix: a topic of at most %d characters, or a shorter sinkName)" . (len .) (ternary "encfs" "gocryptfs" (eq $engine "encfs")) (add $file 15) $copyMost (sub (len .) $copyExcess)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
kafka.tls and kafka.authentication: the settings each type needs, and values that reach a JAAS
string, a properties file or the JVM's options only in a form that cannot break out of them.
*/}}
{{- define "kcb.validateKafka" -}}
{{- $tls := .Values.kafka.tls -}}
{{- $auth := .Values.kafka.authentication -}}
{{- $type := toString $auth.type -}}
{{- $secretName := "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" -}}
{{- $secretNameRule := "is not a Secret name (a DNS subdomain: lowercase letters, digits, '-' and '.', at most 253 characters)" -}}
{{- $secretKey := "^\\.?[-_a-zA-Z0-9][-._a-zA-Z0-9]*$" -}}
{{- $secretKeyRule := "is not a Secret key (letters, digits, '-', '_' and '.', at most 253 characters; not '.', '..' or starting with '..')" -}}
{{- if and $tls.trustedCertificates (not $tls.enabled) -}}
{{- fail "kafka.tls.trustedCertificates: set, but kafka.tls.enabled is false: set kafka.tls.enabled: true to use them (or remove them)" -}}
{{- end -}}
{{- range $i, $cert := $tls.trustedCertificates -}}
{{- if not (kindIs "map" $cert) -}}
{{- fail (printf "kafka.tls.trustedCertificates[%d]: must be a map {secretName: <Secret>, certificate: <key>}, got %q" $i (toString $cert)) -}}
{{- end -}}
{{- $hints := dict "secretName" "the Secret holding the CA certificate, e.g. my-cluster-cluster-ca-cert" "certificate" "its key, e.g. ca.crt" -}}
{{- range $field := list "secretName" "certificate" -}}
{{- $value := toString (get $cert $field | default "") -}}
{{- if not $value -}}
{{- fail (printf "kafka.tls.trustedCertificates[%d].%s: each trusted certificate needs secretName and certificate: set %s" $i $field (get $hints $field)) -}}
{{- end -}}
{{- if and (eq $field "secretName") (or (gt (len $value) 253) (not (regexMatch $secretName $value))) -}}
{{- fail (printf "kafka.tls.trustedCertificates[%d].secretName: %q %s" $i $value $secretNameRule) -}}
{{- end -}}
{{- if and (eq $field "certificate") (or (gt (len $value) 253) (not (regexMatch $secretKey $value))) -}}
{{- fail (printf "kafka.tls.trustedCertificates[%d].certificate: %q %s" $i $value $secretKeyRule) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $type (not (has $type (include "kcb.authenticationTypes" . | fromJsonArray))) -}}
{{- fail (printf "kafka.authentication.type: %q is not a type: use \"\" (none), tls, scram-sha-256, scram-sha-512, plain or oauth" $type) -}}
{{- end -}}
{{- /* [key, value, what it is] of the Secret references the type needs. */ -}}
{{- $secrets := list -}}
{{- if has $type (include "kcb.saslTypes" . | fromJsonArray) -}}
{{- if not $auth.username -}}
{{- fail (printf "kafka.authentication.username: type %s needs the SASL user name (Strimzi: the KafkaUser's name)" $type) -}}
{{- end -}}
{{- $secrets = list (list "passwordSecret.secretName" $auth.passwordSecret.secretName "the Secret holding the password (Strimzi: the KafkaUser's Secret)") (list "passwordSecret.password" $auth.passwordSecret.password "the key of the password in that Secret (Strimzi: password)") -}}
{{- else if eq $type "tls" -}}
{{- if not $tls.enabled -}}
{{- fail "kafka.authentication.type tls needs kafka.tls.enabled: true (the client certificate is presented in the TLS handshake); set kafka.tls.enabled and kafka.tls.trustedCertificates (the brokers' CA)" -}}
{{- end -}}
{{- $secrets = list (list "certificateAndKey.secretName" $auth.certificateAndKey.secretName "the Secret holding the client certificate and key (Strimzi: the KafkaUser's Secret)") (list "certificateAndKey.certificate" $auth.certificateAndKey.certificate "the key of the PEM certificate in that Secret (Strimzi: user.crt)") (list "certificateAndKey.key" $auth.certificateAndKey.key "the key of the unencrypted PKCS#8 PEM private key in that Secret (Strimzi: user.key)") -}}
{{- else if eq $type "oauth" -}}
{{- if not $auth.tokenEndpointUri -}}
{{- fail "kafka.authentication.tokenEndpointUri: type oauth needs the OAuth token endpoint (https://...)" -}}
{{- end -}}
{{- if not $auth.clientId -}}
{{- fail "kafka.authentication.clientId: type oauth needs the OAuth client ID" -}}
{{- end -}}
{{- $secrets = list (list "clientSecret.secretName" $auth.clientSecret.secretName "the Secret holding the OAuth client secret") (list "clientSecret.key" $auth.clientSecret.key "the key of the client secret in that Secret") -}}
{{- end -}}
{{- range $secrets -}}
{{- $key := index . 0 -}}
{{- $value := toString (index . 1 | default "") -}}
{{- if not $value -}}
{{- fail (printf "kafka.authentication.%s: type %s needs %s" $key $type (index . 2)) -}}
{{- end -}}
{{- if hasSuffix ".secretName" $key -}}
{{- if or (gt (len $value) 253) (not (regexMatch $secretName $value)) -}}
{{- fail (printf "kafka.authentication.%s: %q %s" $key $value $secretNameRule) -}}
{{- end -}}
{{- else if or (gt (len $value) 253) (not (regexMatch $secretKey $value)) -}}
{{- fail (printf "kafka.authentication.%s: %q %s" $key $value $secretKeyRule) -}}
{{- end -}}
{{- end -}}
{{- /* They reach a JAAS string ("..."), worker.properties, the supervisor's YAML (JSON-quoted)
     and, for the URL, JDK_JAVA_OPTIONS (split at spaces, quotes removed; a comma separates
     allowed URLs; Kubernetes expands $(VAR) in env values); no `{` so no ${...} reference. */ -}}
{{- $name := "^[A-Za-z0-9._~@+:/$%-]+$" -}}
{{- $nameRule := "letters, digits and . _ - ~ @ + : / $ % only (no spaces, quotes, backslashes, braces, ';' or '=')" -}}
{{- range $key, $value := dict "username" $auth.username "clientId" $auth.clientId -}}
{{- if and $value (not (regexMatch $name (toString $value))) -}}
{{- fail (printf "kafka.authentication.%s: %q must be %s" $key (toString $value) $nameRule) -}}
{{- end -}}
{{- end -}}
{{- if and $auth.scope (not (regexMatch "^[!#-&(-:<>-\\[\\]-z|~]+( [!#-&(-:<>-\\[\\]-z|~]+)*$" (toString $auth.scope))) -}}
{{- fail (printf "kafka.authentication.scope: %q must be scope tokens of printable ASCII without quotes, \\, {, }, ';' or '=', separated by single spaces" (toString $auth.scope)) -}}
{{- end -}}
{{- if and $auth.tokenEndpointUri (not (regexMatch "^https?://[A-Za-z0-9._~:/?\\[\\]@!&*+=%-]+$" (toString $auth.tokenEndpointUri))) -}}
{{- fail (printf "kafka.authentication.tokenEndpointUri: %q must be an http:// or https:// URL without spaces, quotes, backslashes, braces, $, parentheses, commas or ';'" (toString $auth.tokenEndpointUri)) -}}
{{- end -}}
{{- end -}}
