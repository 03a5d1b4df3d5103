"""Several `mycpaas serve` processes by role on one PostgreSQL database, tested end to end (issue 12)."""
