"""The staff export of visits: it agrees with the statements, names no erased member,
runs no formula, has its French Excel variant, and refuses a bad period with a 400."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.runtime import Runtime
from tests.factories import log_in
from tests.month_of_visits import FORMULA, arrange_month, days_of, statement_days

OCTOBER = {"from": "2026-10-01", "to": "2026-10-31"}


def rows(response: Any, delimiter: str = ",") -> list[dict[str, str]]:
    text = response.data.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))


def test_the_export_agrees_with_the_statements_of_the_month(
    client: FlaskClient, session: Session, clock: Any, runtime: Runtime
) -> None:
    month = arrange_month(session, clock)
    log_in(client, "desk@example.org")  # any staff member, not only admins
    response = client.get("/staff/reports/visits.csv", query_string=OCTOBER)

    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "visites-tous-lieux-2026-10-01-2026-10-31.csv" in response.headers["Content-Disposition"]
    found = rows(response)
    assert list(found[0]) == [
        "member_id",
        "member",
        "site",
        "start",
        "end",
        "ended_by",
        "hours",
        "counted_hours",
        "day_kind",
    ]
    lines = [
        (
            int(row["member_id"]),
            date.fromisoformat(row["start"][:10]),
            row["day_kind"],
            Decimal(row["counted_hours"]),
        )
        for row in found
    ]
    expected = statement_days(session, month, clock(), runtime.settings.billing)
    assert days_of(lines) == expected
    assert expected == {  # the month's cases, as billing counts them
        (month.ana, date(2026, 10, 5)): ("half", 180),
        (month.ana, date(2026, 10, 6)): ("full", 510),
        (month.ana, date(2026, 10, 8)): ("full", 300),  # two sites together
        (month.ana, date(2026, 10, 9)): ("half", 0),  # ended at closing
        (month.bob, date(2026, 10, 5)): ("half", 240),
        (month.bob, date(2026, 10, 12)): ("half", 240),  # 5 minutes not counted
        (month.zoe, date(2026, 10, 6)): ("full", 360),
        (month.formula, date(2026, 10, 13)): ("half", 30),
    }

    ana = {row["start"]: row for row in found if int(row["member_id"]) == month.ana}
    assert ana["2026-10-06 09:00"] == {
        "member_id": str(month.ana),
        "member": "Ana L.",
        "site": "La Cantine",
        "start": "2026-10-06 09:00",
        "end": "2026-10-06 17:30",
        "ended_by": "tap",
        "hours": "8.50",
        "counted_hours": "8.50",
        "day_kind": "full",
    }
    short = ana["2026-10-07 09:00"]
    assert (short["hours"], short["counted_hours"], short["day_kind"]) == ("0.17", "0.00", "none")
    closing = ana["2026-10-09 09:00"]  # closing at 19:00, plus the 30 minutes' grace
    assert (closing["end"], closing["ended_by"], closing["hours"]) == (
        "2026-10-09 19:30",
        "auto",
        "10.50",
    )
    assert (closing["counted_hours"], closing["day_kind"]) == ("0.00", "half")
    assert ana["2026-10-08 14:00"]["site"] == "L'Annexe"


def test_one_site_only_and_no_name_of_an_erased_member(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    month = arrange_month(session, clock)
    log_in(client, "desk@example.org")
    response = client.get("/staff/reports/visits.csv", query_string={**OCTOBER, "site": "annex"})
    assert [row["start"] for row in rows(response)] == ["2026-10-08 14:00"]

    everything = client.get("/staff/reports/visits.csv", query_string=OCTOBER)
    zoe = [row for row in rows(everything) if int(row["member_id"]) == month.zoe]
    assert [row["member"] for row in zoe] == ["anonyme"]
    assert "Zoé" not in everything.text and "Secret" not in everything.text


def test_a_name_never_runs_as_a_formula(client: FlaskClient, session: Session, clock: Any) -> None:
    month = arrange_month(session, clock)
    log_in(client, "desk@example.org")
    found = rows(client.get("/staff/reports/visits.csv", query_string=OCTOBER))
    (line,) = [row for row in found if int(row["member_id"]) == month.formula]
    assert line["member"] == "'" + FORMULA


def test_the_excel_variant_is_french(client: FlaskClient, session: Session, clock: Any) -> None:
    month = arrange_month(session, clock)
    log_in(client, "desk@example.org")
    response = client.get("/staff/reports/visits.csv", query_string={**OCTOBER, "excel": "1"})

    assert response.data.startswith("\ufeff".encode())  # a BOM: Excel reads UTF-8
    assert response.data.decode("utf-8").splitlines()[0] == (
        "\ufeffn° membre;membre;lieu;début;fin;fin par;heures;heures comptées;journée"
    )
    found = rows(response, delimiter=";")
    ana = {r["début"]: r for r in found if int(r["n° membre"]) == month.ana}
    line = ana["2026-10-06 09:00"]
    assert (line["heures"], line["fin par"], line["journée"]) == ("8,50", "badge", "journée")
    kinds = {r["journée"] for r in found}
    assert kinds == {"demi-journée", "journée", "aucune"}
    assert {r["fin par"] for r in found} == {"badge", "fermeture"}


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"from": "2026-10-31", "to": "2026-10-01"}, "avant son début"),
        ({"from": "2025-01-01", "to": "2026-10-01"}, "un an au plus"),
        ({"from": "someday"}, "AAAA-MM-JJ"),
        ({"site": "nowhere"}, "Lieu inconnu"),
    ],
)
def test_a_bad_period_or_site_is_a_clear_400(
    client: FlaskClient, session: Session, clock: Any, query: dict[str, str], says: str
) -> None:
    arrange_month(session, clock)
    log_in(client, "desk@example.org")
    response = client.get("/staff/reports/visits.csv", query_string=query)
    assert response.status_code == 400
    assert says in response.text


def test_the_reports_and_billing_pages_link_to_the_export(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    arrange_month(session, clock)
    log_in(client, "desk@example.org")
    reports = client.get("/staff/reports?site=main&from=2026-10-01&to=2026-10-31").text
    assert 'action="/staff/reports/visits.csv"' in reports
    assert 'name="excel" value="1"' in reports
    billing = client.get("/staff/billing?month=2026-10").text
    assert "/staff/reports/visits.csv?from=2026-10-01&amp;to=2026-10-31" in billing
    assert client.get("/staff/reports/visits.csv?from=2026-10-01&to=2026-10-31").status_code == 200
