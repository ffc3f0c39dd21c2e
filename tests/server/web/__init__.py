"""Tests of pages and sockets (server/web), through Flask's test client."""
