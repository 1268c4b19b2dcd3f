"""kafka-connect-backup: supervisor and restore for encrypted, versioned Kafka topic backups."""

__version__ = "0.1.0"
