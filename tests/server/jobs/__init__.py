"""Tests of scheduled jobs and the outbox sender (server/jobs)."""
