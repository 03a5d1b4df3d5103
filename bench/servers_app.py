"""mycpaas's ASGI application built from the environment, for bench/servers.py to run under any server.

The database must exist and be migrated (servers.py provisions it with `mycpaas serve` first).
"""

from __future__ import annotations

from mycpaas.bootstrap import Application
from mycpaas.settings import Settings

app = Application(Settings.from_env())
