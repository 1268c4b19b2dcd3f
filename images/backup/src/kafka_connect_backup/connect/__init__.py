"""Connect REST API client and connector reconciliation."""
