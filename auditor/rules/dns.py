"""VPC DNS attributes."""

from __future__ import annotations
