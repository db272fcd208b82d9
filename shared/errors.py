"""One error model for every process: ``SajjaError`` and RFC 9457 problem+json responses.

A problem carries a stable ``code`` (``member.national_id_invalid``) and a ``title``/``detail``
in Thai or English chosen by ``Accept-Language`` (Thai unless English is preferred). Domains
register their messages once with :func:`register_messages`; routes raise ``SajjaError`` and one
handler renders it. Validation failures list every bad field.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from shared.validators import printable

PROBLEM_MEDIA_TYPE = "application/problem+json"
LANGS = ("th", "en")

log = logging.getLogger("sajja.errors")

#: code -> lang -> (title, detail template). Detail templates use ``str.format`` with the
#: error's ``params``.
_MESSAGES: dict[str, dict[str, tuple[str, str]]] = {}


def register_messages(messages: dict[str, dict[str, tuple[str, str]]]) -> None:
    """Add a domain's messages. Every code needs both Thai and English."""
    for code, by_lang in messages.items():
        missing = [lang for lang in LANGS if lang not in by_lang]
        if missing:
            raise ValueError(f"message {code} lacks {missing}")
        _MESSAGES[code] = by_lang


#: Field-level error types raised by validators (``PydanticCustomError(type, ...)``): lang -> text.
_FIELD_MESSAGES: dict[str, dict[str, str]] = {}


def register_field_messages(messages: dict[str, dict[str, str]]) -> None:
    """Thai and English wording for a domain's own field error types."""
    for code, by_lang in messages.items():
        if set(LANGS) - set(by_lang):
            raise ValueError(f"field message {code} lacks a language")
        _FIELD_MESSAGES[code] = by_lang


def field_error_message(error_type: str, lang: str, fallback: str, ctx: dict[str, Any] | None = None) -> str:
    """The message for one field error, in ``lang``."""
    ctx = ctx or {}
    if error_type in _FIELD_MESSAGES:
        template = _FIELD_MESSAGES[error_type][lang]
    elif lang == "th":
        template = _FIELD_MESSAGES_TH.get(error_type, "ค่าไม่ถูกต้อง ({msg})")
    else:
        return fallback
    try:
        return template.format(msg=fallback, **ctx)
    except (KeyError, IndexError, ValueError):
        return fallback


register_messages(
    {
        "request.validation_failed": {
            "th": ("ข้อมูลไม่ถูกต้อง", "ข้อมูลที่ส่งมามี {count} ช่องที่ไม่ถูกต้อง"),
            "en": ("Invalid request", "{count} field(s) of the request are invalid"),
        },
        "request.not_found": {
            "th": ("ไม่พบ", "ไม่พบสิ่งที่ร้องขอ"),
            "en": ("Not found", "The requested resource does not exist"),
        },
        "request.method_not_allowed": {
            "th": ("ไม่รองรับวิธีนี้", "ที่อยู่นี้ไม่รองรับ {method}"),
            "en": ("Method not allowed", "This resource does not support {method}"),
        },
        "request.body_too_large": {
            "th": ("ข้อมูลใหญ่เกินไป", "ขนาดข้อมูลเกิน {limit} ไบต์"),
            "en": ("Request body too large", "The body exceeds {limit} bytes"),
        },
        "request.http_error": {
            "th": ("คำขอผิดพลาด", "{detail}"),
            "en": ("Request error", "{detail}"),
        },
        "internal_error": {
            "th": ("ระบบขัดข้อง", "เกิดข้อผิดพลาดภายในระบบ โปรดลองใหม่ หรือแจ้งรหัสคำขอ {request_id}"),
            "en": ("Internal error", "Something went wrong; try again or quote request id {request_id}"),
        },
        "auth.unauthenticated": {
            "th": ("ต้องเข้าสู่ระบบ", "ไม่มีโทเคนหรือโทเคนไม่ถูกต้อง"),
            "en": ("Authentication required", "The access token is missing or invalid"),
        },
        "auth.token_expired": {
            "th": ("โทเคนหมดอายุ", "โทเคนหมดอายุแล้ว โปรดต่ออายุหรือเข้าสู่ระบบใหม่"),
            "en": ("Token expired", "The access token has expired; refresh it or log in again"),
        },
        "auth.forbidden": {
            "th": ("ไม่มีสิทธิ์", "บทบาทของคุณไม่มีสิทธิ์ทำรายการนี้"),
            "en": ("Forbidden", "Your role may not do this"),
        },
        "auth.out_of_scope": {
            "th": ("ไม่มีสิทธิ์เข้าถึงกองทุนนี้", "คุณไม่มีสิทธิ์เข้าถึงข้อมูลของกองทุนหรือรายการนี้"),
            "en": ("Out of scope", "You may not access this fund or object"),
        },
        "upstream.unavailable": {
            "th": ("บริการไม่พร้อม", "บริการ {service} ไม่พร้อมใช้งานในขณะนี้"),
            "en": ("Service unavailable", "The {service} service is not available right now"),
        },
        "upstream.timeout": {
            "th": ("บริการตอบช้าเกินไป", "บริการ {service} ไม่ตอบภายในเวลาที่กำหนด"),
            "en": ("Upstream timeout", "The {service} service did not answer in time"),
        },
        "upstream.bad_gateway": {
            "th": ("บริการตอบผิดพลาด", "บริการ {service} ตอบกลับไม่ถูกต้อง"),
            "en": ("Bad gateway", "The {service} service gave an invalid answer"),
        },
    }
)

# Thai wording for the pydantic error types people meet most; others fall back to a generic line.
_FIELD_MESSAGES_TH: dict[str, str] = {
    "missing": "ต้องระบุ",
    "extra_forbidden": "ไม่รู้จักช่องนี้",
    "string_too_short": "สั้นเกินไป",
    "string_too_long": "ยาวเกินไป",
    "string_pattern_mismatch": "รูปแบบไม่ถูกต้อง",
    "string_type": "ต้องเป็นข้อความ",
    "int_parsing": "ต้องเป็นจำนวนเต็ม",
    "int_type": "ต้องเป็นจำนวนเต็ม",
    "int_from_float": "ต้องเป็นจำนวนเต็ม ไม่มีทศนิยม",
    "greater_than": "ต้องมากกว่า {gt}",
    "greater_than_equal": "ต้องไม่น้อยกว่า {ge}",
    "less_than": "ต้องน้อยกว่า {lt}",
    "less_than_equal": "ต้องไม่เกิน {le}",
    "date_from_datetime_parsing": "วันที่ไม่ถูกต้อง",
    "date_parsing": "วันที่ไม่ถูกต้อง",
    "datetime_parsing": "วันเวลาไม่ถูกต้อง",
    "datetime_from_date_parsing": "วันเวลาไม่ถูกต้อง",
    "enum": "ต้องเป็นหนึ่งใน {expected}",
    "literal_error": "ต้องเป็นหนึ่งใน {expected}",
    "uuid_parsing": "รหัสไม่ถูกต้อง",
    "json_invalid": "JSON ไม่ถูกต้อง",
    "too_long": "มีรายการมากเกินไป",
    "too_short": "มีรายการน้อยเกินไป",
    "value_error": "{msg}",
    "bool_parsing": "ต้องเป็นจริงหรือเท็จ",
    "model_attributes_type": "รูปแบบข้อมูลไม่ถูกต้อง",
    "dict_type": "ต้องเป็นออบเจกต์",
    "list_type": "ต้องเป็นรายการ",
}


def preferred_language(accept_language: str | None) -> str:
    """``en`` when the caller prefers English over Thai; Thai otherwise (and by default)."""
    if not accept_language:
        return "th"
    best_lang, best_q = "th", -1.0
    for part in accept_language.split(","):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGS and 0 < q and q > best_q:
            best_lang, best_q = primary, q
    return best_lang


def request_language(request: Request) -> str:
    """The language to answer this request in, from its ``Accept-Language``."""
    return preferred_language(request.headers.get("accept-language"))


class SajjaError(Exception):
    """Root of every error a Sajja process reports to its callers."""

    status_code: int = 400
    code: str = "request.http_error"

    def __init__(
        self,
        code: str | None = None,
        *,
        status_code: int | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.code = code or self.code
        self.status_code = status_code or self.status_code
        self.params = params or {}
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.code)


class NotFound(SajjaError):
    status_code = 404
    code = "request.not_found"


class Conflict(SajjaError):
    status_code = 409


class Unauthenticated(SajjaError):
    status_code = 401
    code = "auth.unauthenticated"

    def __init__(self, code: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="sajja"'})
        super().__init__(code, **kw)


class Forbidden(SajjaError):
    status_code = 403
    code = "auth.forbidden"


def render_message(code: str, lang: str, params: dict[str, Any]) -> tuple[str, str]:
    by_lang = _MESSAGES.get(code) or _MESSAGES["request.http_error"]
    title, detail = by_lang.get(lang) or by_lang["th"]
    try:
        detail = detail.format(**params)
    except (KeyError, IndexError, ValueError):
        log.warning("message %s lacks parameters for %r", code, detail)
    return title, detail


def problem_body(
    code: str, status: int, lang: str, params: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    title, detail = render_message(code, lang, params or {})
    body: dict[str, Any] = {
        "type": f"urn:sajja:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_response(
    request: Request,
    code: str,
    status: int,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    lang = request_language(request)
    request_id = getattr(request.state, "request_id", None)
    body = problem_body(code, status, lang, params, request_id=request_id, **extra)
    out_headers = {"Content-Language": lang, **(headers or {})}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=out_headers)


def field_errors(errors: Iterable[Mapping[str, Any]], lang: str) -> list[dict[str, Any]]:
    """Pydantic errors as ``{field, code, message}`` in the caller's language."""
    fields = []
    for err in errors:
        # Printable: a field's name or a value in the message may be the bad input itself (an unknown
        # key holding a lone surrogate), and the answer must still be written as UTF-8.
        loc = [printable(str(p)) for p in err.get("loc", ())]
        ctx = {k: (v if isinstance(v, (int, float)) else printable(str(v))) for k, v in (err.get("ctx") or {}).items()}
        message = field_error_message(err["type"], lang, err.get("msg", "invalid value"), ctx)
        fields.append({"field": ".".join(loc), "code": err["type"], "message": message})
    return fields


def install_error_handlers(app: FastAPI) -> None:
    """The single place where exceptions become problem+json."""

    @app.exception_handler(SajjaError)
    async def _sajja_error(request: Request, exc: SajjaError) -> Response:
        return problem_response(request, exc.code, exc.status_code, exc.params, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        lang = request_language(request)
        errors = field_errors(list(exc.errors()), lang)
        return problem_response(
            request, "request.validation_failed", 422, {"count": len(errors)}, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return problem_response(request, "request.not_found", 404)
        if exc.status_code == 413:
            return problem_response(request, "request.body_too_large", 413, {"limit": exc.detail})
        if exc.status_code == 405:
            return problem_response(request, "request.method_not_allowed", 405, {"method": request.method})
        return problem_response(
            request, "request.http_error", exc.status_code, {"detail": exc.detail}, getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        # Starlette raises the exception again once this answer is sent, and uvicorn then closes
        # the connection. Saying so in the answer keeps a keep-alive client (the gateway's
        # forwarder) from sending its next request on a connection about to close: that request
        # would be lost and answered 502.
        request_id = getattr(request.state, "request_id", "-")
        log.exception("unhandled error in %s %s", request.method, request.url.path)
        return problem_response(request, "internal_error", 500, {"request_id": request_id},
                                headers={"Connection": "close"})
