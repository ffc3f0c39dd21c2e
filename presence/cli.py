"""The `presence` command: a click group whose subcommands are imported only when run.

`presence kiosk` on a Raspberry Pi must never import the server (nor need its
libraries), so each subcommand is named here by "module:attribute" and loaded lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from presence import __version__

#: name -> "module:attribute" of a click command or group.
COMMANDS = {
    "serve": "server.cli.commands:serve",
    "scheduler": "server.cli.commands:scheduler",
    "db": "server.cli.commands:db",
    "sites": "server.cli.commands:sites",
    "members": "server.cli.commands:members",
    "badges": "server.cli.commands:badges",
    "kiosks": "server.cli.commands:kiosks",
    "staff": "server.cli.commands:staff",
    "demo": "server.cli.commands:demo",
    "backup": "server.cli.commands:backup",
    "restore": "server.cli.commands:restore",
    "kiosk": "kiosk.cli:main",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = self.lazy[cmd_name].split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            extra = "kiosk" if module_name.startswith("kiosk") else "server"
            raise click.ClickException(
                f"'presence {cmd_name}' needs the {extra} part: "
                f"pip install 'presence[{extra}]' ({error.name} is missing)"
            ) from None
        command: click.Command = getattr(module, attribute)
        return command


@click.group(name="presence", cls=LazyGroup, lazy=COMMANDS)
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    envvar="PRESENCE_CONFIG",
    help="Configuration file (default: $PRESENCE_CONFIG, else ./config.toml).",
)
@click.version_option(__version__, prog_name="presence")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """Présence: who is here, at the Cantine and in the figures."""
    ctx.obj = {"config": config}
