"""Routes whose targets are gone or unusable."""

from __future__ import annotations
