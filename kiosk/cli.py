"""`presence kiosk`: the program on the Raspberry Pi at the door."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click

from presence.config import ConfigError


@click.command()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Read badges, greet at once, keep every tap until the server has it."""
    from kiosk.daemon import Kiosk, in_directory, open_spool, read_boot_id
    from kiosk.readers import make_reader
    from kiosk.screen import Screen, ScreenServer
    from kiosk.settings import load_kiosk_settings
    from kiosk.uploader import Uploader

    try:
        settings = load_kiosk_settings((ctx.find_root().obj or {}).get("config")).kiosk
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    screen = Screen()
    try:
        page = ScreenServer(
            screen, settings.feedback_host, settings.feedback_port, settings.language
        )
    except OSError as error:
        address = f"{settings.feedback_host}:{settings.feedback_port}"
        raise click.ClickException(f"cannot serve the kiosk page on {address}: {error}") from None
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # The page is served early only if the spool does not open, to say why.
    spool = open_spool(settings.spool_path, screen, stop, waiting=page.start)
    if spool is None:  # stopped while waiting for room on the disk
        page.stop()
        return
    boot_id = read_boot_id()
    uploader = Uploader(settings, spool, screen, boot_id)
    reader = make_reader(settings, known=in_directory(spool))
    kiosk = Kiosk(settings, reader, spool, screen, uploader, boot_id)
    page.desk = kiosk  # before the page is served: its guest forms work from the start
    page.start()
    uploader.start()
    logging.getLogger("kiosk").info(
        "kiosk up: %s reader, page on http://%s:%d/, %d taps waiting",
        settings.reader,
        settings.feedback_host,
        settings.feedback_port,
        spool.pending(),
    )
    try:
        kiosk.run(stop)
    finally:
        uploader.stop()
        uploader.join(timeout=5)
        page.stop()
        spool.close()
