"""Tests of the rules (server/domain), one focused test per rule."""
