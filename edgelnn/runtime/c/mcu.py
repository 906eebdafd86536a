"""Microcontroller builds (placeholder, filled below)."""
from __future__ import annotations


def figures_for_scheme(c_file, header, prefix, scheme):
    return {}, "not implemented"
