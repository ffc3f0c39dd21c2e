"""Tests of the kiosk API and the other JSON endpoints (server/api)."""
