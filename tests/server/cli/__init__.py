"""Tests of the server's `presence` subcommands and the demo (server/cli)."""
