"""The annual statements PDF's page of the 20-year sustainability projection (issue 28 point 4):
drawn from the benefits service's answer with fpdf2 (a band, a line, the floor), its table of every
fifth year and its words; asked by the ledger with its own service token; and the PDF made all the
same, saying the projection is unavailable, when benefits refuses, fails or is down."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import httpx
import pytest
from aiohttp import web
from pypdf import PdfReader

from services.ledger.years import render
from shared.benefits_client import BenefitsClient
from tests.support.factories import make_books
from tests.support.helpers import free_port, serving
from tests.support.projection import canned_projection

TITLE = "ประมาณการความยั่งยืน 20 ปี"
UNAVAILABLE = "ขณะนี้แสดงประมาณการไม่ได้"


def pages_text(body: bytes) -> list[str]:
    """Each page's text; shaping draws ำ as two glyphs, the second comes back as a control character."""
    return [re.sub(r"[\x00-\x09\x0b-\x1f]", "", page.extract_text()) for page in PdfReader(io.BytesIO(body)).pages]


def drawing(body: bytes, page: int) -> bytes:
    return PdfReader(io.BytesIO(body)).pages[page].get_contents().get_data()  # type: ignore[union-attr]


def test_the_projection_page_has_the_chart_the_table_the_words_and_the_mortality_basis() -> None:
    doc = render.StatementPdf(footer_text="งบการเงินประจำปีบัญชี 2569")
    render.projection_page(doc, canned_projection())
    body = bytes(doc.output())
    (text,) = pages_text(body)
    for expected in (TITLE, "ประมาณการ ณ วันที่ 7 ธันวาคม 2569", "ปี พ.ศ. 2570–2589", "1,000 รอบ",
                     "เงินสำรอง 10,000,000.00 บาท", "ไม่มีวันเกิดในทะเบียน 12 คน", "เงินสำรองขั้นต่ำ 500,000.00 บาท",
                     "ช่วง 5–95%", "ค่าคาดหมาย",
                     "ตามค่าคาดหมาย เงินสำรองของกองทุนจะต่ำกว่าเงินสำรองขั้นต่ำตั้งแต่ปี พ.ศ. 2581",
                     "(เปอร์เซ็นไทล์ที่ 5) อาจต่ำกว่าตั้งแต่ปี พ.ศ. 2576",
                     "ฐานอัตราการเสียชีวิต: ตารางมรณะของประเทศไทย", "TMO2017", "ไม่มีการสมมติเปลี่ยน"):
        assert expected in text, expected
    # Every fifth year: members, contributions, co-funding, benefits, the reserve and its band, in baht.
    rows = [line for line in text.splitlines() if re.match(r"^25\d\d \d+,\d", line)]
    assert rows == [
        "2574 1,040 369,000.00 200,000.00 500,000.00 11,600,000.00 11,080,000.00 12,120,000.00",
        "2579 1,090 374,000.00 200,000.00 750,000.00 13,600,000.00 12,680,000.00 14,520,000.00",
        "2584 1,140 379,000.00 200,000.00 1,000,000.00 10,400,000.00 9,080,000.00 11,720,000.00",
        "2589 1,190 384,000.00 200,000.00 1,250,000.00 5,900,000.00 4,180,000.00 7,620,000.00"]
    ops = drawing(body, 0).decode("latin-1")
    band = re.search(r"((?:[\d.]+ [\d.]+ [ml]\n)+) h\n f\n", ops)
    assert band and band.group(1).count(" l\n") == 39, "the band: a filled polygon through 2 x 20 points"
    line = re.search(r"1.98 w\n((?:[\d.]+ [\d.]+ [ml]\n)+) S\n", ops)
    assert line and line.group(1).count(" l\n") == 19, "the expected path: a line through the 20 years"
    assert re.search(r"\[[\d.]+ [\d.]+\] [\d.]+ d\n[\d.]+ ([\d.]+) m [\d.]+ \1 l S", ops), "the floor: a dashed level line"


def test_without_a_projection_the_page_says_it_is_unavailable() -> None:
    doc = render.StatementPdf(footer_text="x")
    render.projection_page(doc, None)
    (text,) = pages_text(bytes(doc.output()))
    assert TITLE in text and UNAVAILABLE in text and "ค่าคาดหมาย" not in text


class FakeBenefits:
    """The benefits service's projection route as the ledger calls it: a canned answer, or a failure."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, str], str]] = []
        self.status = 200
        self.body: Any = None
        self.app = web.Application()
        self.app.router.add_get("/v1/benefits/funds/{fund_id}/projection", self.projection)

    async def projection(self, request: web.Request) -> web.Response:
        fund_id = request.match_info["fund_id"]
        self.asked.append((fund_id, dict(request.query), request.headers.get("Authorization", "")))
        if self.status != 200:
            return web.json_response({"code": "x", "title": "x"}, status=self.status, content_type="application/problem+json")
        return web.json_response(self.body if self.body is not None else canned_projection(fund_id))


async def test_the_statements_pdf_ends_with_the_funds_projection_asked_with_the_ledgers_token(service_client, tokens) -> None:
    books = await make_books(service_client, tokens, members_count=1)
    assert (await books.post("/deposits", books.deposit(amount=10_000), books.collector_headers)).status_code == 201
    app = books.ledger._transport.app
    fake = FakeBenefits()
    ledgers = tokens.service("ledger")
    async with serving(fake.app) as url, httpx.AsyncClient(headers=ledgers) as http:
        app.state.benefits = BenefitsClient(http, url)
        answer = await books.get("/statements/2026", format="pdf")
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
        text = pages_text(answer.content)
        assert "งบแสดงฐานะการเงิน" in text[0], "the statements come first, as they were"
        assert TITLE in text[-1] and "ตั้งแต่ปี พ.ศ. 2581" in text[-1] and "TMO2017" in text[-1]
        ((fund_id, query, token),) = fake.asked
        assert fund_id == str(books.id) and query == {"years": "20"}, "the defaults: no what-if"
        assert token == ledgers["Authorization"], "with the ledger's own service token"

        # The JSON and the workbook do not ask for it.
        assert (await books.get("/statements/2026")).status_code == 200
        assert (await books.get("/statements/2026", format="xlsx")).status_code == 200
        assert len(fake.asked) == 1


@pytest.mark.parametrize("failure", ["503", "403", "not a projection", "down"])
async def test_the_statements_pdf_is_made_when_benefits_refuses_fails_or_is_down(service_client, tokens, failure: str) -> None:
    books = await make_books(service_client, tokens, members_count=1)
    app = books.ledger._transport.app
    fake = FakeBenefits()
    fake.status = {"503": 503, "403": 403}.get(failure, 200)
    if failure == "not a projection":
        fake.body = {"fund_id": str(uuid.uuid4()), "path": []}
    async with serving(fake.app) as url, httpx.AsyncClient(headers=tokens.service("ledger")) as http:
        app.state.benefits = BenefitsClient(http, f"http://127.0.0.1:{free_port()}" if failure == "down" else url)
        answer = await books.get("/statements/2026", format="pdf")
    assert answer.status_code == 200, answer.text
    text = pages_text(answer.content)
    assert "งบแสดงฐานะการเงิน" in text[0]
    assert TITLE in text[-1] and UNAVAILABLE in text[-1]


async def test_the_statements_pdf_prints_the_real_benefits_services_projection(service_client, tokens) -> None:
    """The ledger, benefits and members apps on real PostgreSQL: the ledger asks benefits with its
    service token, benefits asks the members' roll and the ledger's books back, and the page shows
    what the engine answered."""
    books = await make_books(service_client, tokens, members_count=3)
    for member in range(3):
        assert (await books.post("/deposits", books.deposit(member=member, amount=36_500), books.collector_headers)).status_code == 201
    engine = await (await service_client("benefits")).get(f"/v1/benefits/funds/{books.id}/projection",
                                                         headers=tokens.service("ledger"))
    assert engine.status_code == 200, engine.text
    p = engine.json()
    answer = await books.get(f"/statements/{p['as_of'][:4]}", format="pdf")
    assert answer.status_code == 200
    page = pages_text(answer.content)[-1]
    assert TITLE in page and UNAVAILABLE not in page, page
    assert f"ปี พ.ศ. {p['path'][0]['year'] + 543}–{p['path'][-1]['year'] + 543}" in page
    assert render.baht(p["starting"]["reserve_satang"]) in page and "สมาชิก 3 คน" in page
    last = p["path"][-1]
    assert render.baht(last["reserve_satang"]["expected"]) in page, "the twentieth year in the table"
    assert "ฐานอัตราการเสียชีวิต" in page and p["mortality"]["source"].split()[0] in page
    ticks = [line for line in page.splitlines() if re.fullmatch(r"[\d,.]+( [ลพ]\.)?", line)]
    assert len(ticks) == len(set(ticks)) >= 4, f"the value axis names each tick once, even for a fund of no money: {ticks}"
