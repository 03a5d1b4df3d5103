"""mycpaas: a self-hosted communications platform with a Twilio-compatible REST API."""

__version__ = "0.1.0"
