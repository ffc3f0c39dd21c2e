"""The benchmark scripts still run, each in a few seconds with tiny parameters.

Only the load harness's PostgreSQL setup runs here, for the suite's time: the other
scripts and setups share its server (bench/_server.py) and its clients' code.

Their figures are not checked here (speed is measured in bench/, not in tests); what is
checked is what each script checks itself and reports in its exit status: every request
got the answer it should, every board got every message, and, for the load harness,
every acknowledged tap is in the log exactly once. A benchmark that quietly broke (a
bare route refused by CSRF, say) would otherwise only be found the day someone needs
its figures.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import POSTGRES_ENV, ROOT, require_env

pytestmark = pytest.mark.slow

BENCH = ROOT / "bench"


def run_bench(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result.stdout


def test_load_harness_keeps_every_tap_once_on_postgres_and_redis() -> None:
    url = require_env(POSTGRES_ENV, "PostgreSQL")
    # The harness makes a database of its own on that server, never the tests' one.
    out = run_bench("bench_load.py", "--setups", "postgres", "--postgres-url", url, *SMALL)
    assert "0 lost, 0 twice, 0 never acknowledged" in out, out


SMALL = (
    *("--arrivals", "20", "--burst-seconds", "2", "--boards", "4", "--members", "400"),
    *("--saturation-seconds", "1", "--bare-seconds", "0.5", "--saturation-boards", "2"),
)


def test_the_drain_benchmark_finds_every_spooled_tap_in_the_log_once() -> None:
    out = run_bench("bench_drain.py", "--taps", "60", "--members", "20", "--outage", "1")
    assert "0 missing, 0 twice" in out, out


def test_the_members_benchmark_reaches_every_page() -> None:
    small = ("--members", "1000", "--repeat", "1", "--postgres-url", "", "--figures-only")
    out = run_bench("bench_members.py", *small)
    assert "dashboard" in out and "members, a late page" in out
