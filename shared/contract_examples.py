"""Request examples for the public document, in Thai, by operationId: (summary, body).

Each is a body the operation accepts (a test validates every one against its route's model), so a
front-end developer can send it as it is to a development system once the ids are its own.
"""

from __future__ import annotations

from typing import Any

_FUND = "0c6f5b0e-6a0e-4c55-9b7e-2f3d8f1b9a01"
_MEMBER = "5b1d3c2a-8f4e-4d6a-9c1b-7e2f3a4b5c6d"
_USER = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"

EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "auth_login": ("เข้าสู่ระบบด้วยเบอร์โทรและรหัสผ่าน", {"phone": "0812345678", "password": "รหัสผ่านของฉัน"}),
    "auth_refresh": ("ขอโทเค็นใหม่ด้วย refresh token", {"refresh_token": "r1-3f9c0e7d2b5a4c8e9f1a2b3c4d5e6f70"}),
    "auth_token": ("ระบบทุนขอโทเค็น (client credentials)",
                   {"grant_type": "client_credentials", "client_id": "codi-grants", "client_secret": "ความลับของระบบ"}),
    "auth_create_user": ("เพิ่มอาสาสมัครเก็บเงิน", {
        "phone": "0870000002", "password": "246810", "display_name": "อาสาเก็บเงิน หมู่ 2", "role": "collector",
        "fund_id": _FUND}),
    "members_create_network": ("เพิ่มเครือข่ายระดับจังหวัด", {"name_th": "เครือข่ายกองทุนสวัสดิการชุมชนจังหวัดสิงห์บุรี",
                                                              "province": "สิงห์บุรี"}),
    "members_create_fund": ("ลงทะเบียนกองทุนตำบล", {
        "name": "กองทุนสวัสดิการชุมชนตำบลท่างาม", "province": "สิงห์บุรี", "district": "อินทร์บุรี",
        "subdistrict": "ท่างาม", "founded_on": "2008-03-01", "population": 4233}),
    "members_register": ("สมัครสมาชิกใหม่พร้อมผู้รับผลประโยชน์", {
        "national_id": "3600100000010", "title": "นาง", "first_name": "สมศรี", "last_name": "ใจดี",
        "birth_date": "1965-01-01", "sex": "female", "village": 2, "house_no": "12/1", "joined_on": "2015-01-01",
        "beneficiaries": [{"name": "สมชาย ใจดี", "relationship": "บุตร", "share_bp": 10000}], "consent_given": True}),
    "members_create_collector": ("แต่งตั้งอาสาเก็บเงินประจำหมู่ 2 และ 3", {
        "user_id": _USER, "display_name": "อาสาเก็บเงิน หมู่ 2", "villages": [2, 3]}),
    "ledger_post_deposit": ("รับเงินสัจจะวันละบาทของสมาชิกหนึ่งคน", {
        "id": "1f0e2d3c-4b5a-4968-8776-655443322110", "member_id": _MEMBER, "amount_satang": 3000,
        "collected_at": "2026-12-07T18:30:00+07:00"}),
    "ledger_post_deposit_batch": ("ส่งรายการที่เก็บไว้ขณะออฟไลน์ทั้งหมดในครั้งเดียว", {"deposits": [
        {"id": "1f0e2d3c-4b5a-4968-8776-655443322110", "member_id": _MEMBER, "amount_satang": 3000,
         "collected_at": "2026-12-07T18:30:00+07:00"},
        {"id": "2a1b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "member_id": _MEMBER, "amount_satang": 100,
         "collected_at": "2026-12-07T18:35:00+07:00"}]}),
    "ledger_handover": ("อาสาส่งเงินที่เก็บได้ให้เหรัญญิก", {
        "id": "3b2c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e", "collector_id": _USER, "amount_satang": 3100,
        "handed_over_on": "2026-12-07"}),
    "ledger_co_funding": ("รับเงินสมทบจากองค์การบริหารส่วนตำบล", {
        "id": "4c3d5e6f-7a8b-4c9d-8e0f-2a3b4c5d6e7f", "source": "local_government", "amount_satang": 5000000,
        "received_on": "2026-10-15", "reference": "หนังสือ อบต.ท่างาม ที่ สห 72501/123"}),
    "ledger_add_plan": ("แผนออมสัจจะวันละบาท", {
        "name": "สัจจะวันละบาท", "period": "day", "amount_satang": 100, "effective_from": "2015-01-01"}),
    "benefits_submit_claim": ("ยื่นขอสวัสดิการนอนโรงพยาบาล", {
        "member_id": _MEMBER, "benefit_code": "hospital", "event_date": "2026-11-20", "event_end_date": "2026-11-23",
        "days": 3, "details": "นอนโรงพยาบาลอินทร์บุรี 3 คืน"}),
}
