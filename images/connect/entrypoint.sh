#!/bin/sh
# Connect's entrypoint: umask 002, so the sink files it creates are group-writable for the pod's
# fsGroup, which the supervisor holds as a supplementary group. In the chart's devicePlugin mode
# the supervisor is root with CAP_SYS_ADMIN alone, and may hard-link (staging) only files it
# may read and write (fs.protected_hardlinks). exec: the JVM stays PID 1 and gets the signals.
umask 002
exec java -cp '/opt/kafka/libs/*' \
    -Dlog4j2.configurationFile=/etc/kafka-connect/log4j2.xml \
    org.apache.kafka.connect.cli.ConnectStandalone "$@"
