"""The one rich console on stderr that live tables and log lines share.

Sharing it is what lets rich print log lines above a live table instead of through it.
"""

from __future__ import annotations

from rich.console import Console

console = Console(stderr=True)
