"""Security groups: stale references, open admin ports, the default group, and flow logs."""

from __future__ import annotations
