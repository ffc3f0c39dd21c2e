"""Présence: check-in and presence for coworking spaces (shared entry points)."""

__version__ = "0.1.0"
