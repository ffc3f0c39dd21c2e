"""Tests of badges/: signed tokens, badge values, cards."""
