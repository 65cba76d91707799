"""Deliver stage: put rendered documents where they go (files now; email later)."""
