#!/usr/bin/env bash
# Apache Kafka jars for the pinned release (images/connect/pom.xml) into .tools/kafka/:
# libs/ (classpath: broker, Connect runtime, tools, Log4j2) and plugins/connect-file/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

POM="$ROOT/images/connect/pom.xml"
if fresh kafka-jars "$POM" && [ -d "$TOOLS/kafka/libs" ]; then
  log "kafka-jars: up to date"
  exit 0
fi
log "kafka-jars: resolving $(grep -o '<kafka.version>[^<]*' "$POM" | cut -d'>' -f2) from Maven Central"
rm -rf "$TOOLS/kafka"
mvn -q -B -f "$POM" package -Djars.dir="$TOOLS/kafka"
stamp kafka-jars "$POM"
