"""VPC endpoints (gateway and interface) and the endpoint services we provide."""

from __future__ import annotations
