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
(supervisor/ownership.py).
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
{{- end -}}
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
{{- end -}}
