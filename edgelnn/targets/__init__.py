"""Deployment targets (placeholder, being written)."""
