"""Tests of kiosk/: its parts, and the real program against a real server."""
