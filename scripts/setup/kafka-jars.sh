#!/usr/bin/env bash
# Apache Kafka jars for the pinned release (images/connect/pom.xml) into .tools/kafka/:
# libs/ (classpath: broker, Connect runtime, tools, Log4j2), plugins/connect-file/ and
# plugins/kcb-envelope/ (the record envelope transform, built and JUnit-tested from
# images/connect/envelope/ by the same Maven run).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CONNECT="$ROOT/images/connect"
POM="$CONNECT/pom.xml"
# Every input of the build: the three poms and the transform's sources.
mapfile -t INPUTS < <(find "$CONNECT" -name pom.xml -not -path '*/target/*'; \
                      find "$CONNECT/envelope/src" -type f | LC_ALL=C sort)
if fresh kafka-jars "${INPUTS[@]}" && [ -d "$TOOLS/kafka/libs" ] \
   && [ -n "$(ls "$TOOLS"/kafka/plugins/kcb-envelope/kcb-envelope-*.jar 2>/dev/null)" ]; then
  log "kafka-jars: up to date"
  exit 0
fi
log "kafka-jars: resolving $(grep -o '<kafka.version>[^<]*' "$POM" | cut -d'>' -f2) from Maven Central"
rm -rf "$TOOLS/kafka"
mvn -q -B -f "$POM" package -Djars.dir="$TOOLS/kafka"
stamp kafka-jars "${INPUTS[@]}"
