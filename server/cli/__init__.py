"""The server's `presence` subcommands, the demo and serving (loaded lazily by presence.cli)."""
