"""In a browser, as a manager: the report's totals, charts and tables, a country filter kept in
the URL, a table downloaded as CSV, and a screenshot of the whole dashboard."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from crm.models import Union
from outreach.models import Attendance, Consultation, Topic
from tests.browser.conftest import live, sign_in
from tests.factories import ConsultationFactory, ContactFactory, UnionFactory

pytestmark = [pytest.mark.browser, pytest.mark.services, live]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def _held(country: str, union: Union, month: int, topic: str, attendees: int) -> None:
    consultation = ConsultationFactory.create(
        country=country,
        starts_at=datetime(2024, month, 12, 10, tzinfo=UTC),
        position=Consultation.Position.SUPPORT
        if country == "DE"
        else Consultation.Position.OPPOSED,
    )
    consultation.unions.add(union)
    consultation.topics.add(Topic.objects.get(slug=topic))
    for contact in ContactFactory.create_batch(attendees, country=country):
        Attendance.objects.create(consultation=consultation, contact=contact)


def _campaign() -> None:
    """Three consultations in Germany and one in Denmark, with unions of their own."""
    ig_metall = UnionFactory.create(name="IG Metall", acronym="IGM", country="DE")
    dansk_metal = UnionFactory.create(name="Dansk Metal", acronym="DM", country="DK")
    _held("DE", ig_metall, 1, "welding", 2)
    _held("DE", ig_metall, 2, "safety", 1)
    _held("DE", ig_metall, 3, "welding", 1)
    _held("DK", dansk_metal, 3, "quality", 2)


def _figure(page, name: str) -> str:
    return page.locator(f"[data-figure={name}]").inner_text()


def _first_cells(page, table: str) -> list[str]:
    return page.locator(f"[data-table={table}] tbody th").all_inner_texts()


def test_it_shows_filters_and_downloads_the_report(page, live_server, manager, postgres):
    _campaign()
    sign_in(page, live_server, manager.username, next_path="/reports/")
    assert page.url == f"{live_server.url}/reports/"
    assert page.get_by_role("heading", name="Consultation report", level=1).is_visible()
    assert page.locator('[data-nav="reports"][aria-current="page"]').is_visible()

    assert _figure(page, "total_consultations") == "4"
    assert _figure(page, "unique_contacts_reached") == "6"
    assert _figure(page, "unions_engaged") == "2"
    assert _figure(page, "countries_engaged") == "2"
    assert _figure(page, "nato_coverage") == "2/32"
    for chart in ("months", "countries", "unions", "topics", "positions", "positions-by-country"):
        assert page.locator(f"[data-chart={chart}]").is_visible(), chart
    assert page.locator("[data-chart=countries] li").count() == 2
    for table in ("summary", "months", "countries", "unions", "topics", "followups"):
        assert page.locator(f"[data-table={table}]").is_visible(), table
    # Every member state's row is folded away until asked for.
    assert not page.locator("[data-table=coverage]").is_visible()
    page.locator(".coverage-table summary").click()
    assert page.locator("[data-table=coverage]").is_visible()
    assert _first_cells(page, "countries") == ["DE", "DK"]
    assert _first_cells(page, "unions") == ["IG Metall", "Dansk Metal"]
    assert _first_cells(page, "months") == ["2024-01", "2024-02", "2024-03"]
    not_consulted = page.get_by_test_id("not-consulted")
    assert not_consulted.locator("[data-country=FR]").is_visible()
    assert not_consulted.locator("[data-country=DK]").count() == 0

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000

    filters = page.get_by_test_id("report-filters")
    filters.locator("#id_country").select_option("DK")
    filters.get_by_role("button", name="Apply").click()
    page.wait_for_url(lambda url: "country=DK" in url)
    assert parse_qs(urlsplit(page.url).query)["country"] == ["DK"]
    assert filters.locator("#id_country").input_value() == "DK"
    assert page.get_by_text("Filtered.").is_visible()

    assert _figure(page, "total_consultations") == "1"
    assert _figure(page, "unique_contacts_reached") == "2"
    assert _figure(page, "unions_engaged") == "1"
    assert _figure(page, "countries_engaged") == "1"
    assert _figure(page, "nato_coverage") == "1/32"
    assert _first_cells(page, "countries") == ["DK"]
    assert _first_cells(page, "unions") == ["Dansk Metal"]
    assert _first_cells(page, "months") == ["2024-03"]
    assert not_consulted.locator("[data-country=DE]").is_visible()

    link = page.locator('[data-export="countries-csv"]')
    assert parse_qs(urlsplit(link.get_attribute("href") or "").query) == {"country": ["DK"]}
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename.startswith("report-countries-")
    assert download.suggested_filename.endswith(".csv")
    content = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(content)))
    assert rows == [
        ["Country code", "Country", "NATO member", "Consultations"],
        ["DK", "Denmark", "yes", "1"],
    ]
