"""Work done away from requests: the scheduler's jobs and the outbox sender."""
