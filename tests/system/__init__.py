"""Whole-system tests: real server and kiosk processes, faults, real browsers, nginx."""
