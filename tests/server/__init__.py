"""Tests of server/, by layer."""
