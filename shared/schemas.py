"""The base of every closed request body: a body that refuses fields it does not know.

An unknown field is a 422 (``extra_forbidden``, "ไม่รู้จักช่องนี้") rather than silently
dropped, so a misspelt or smuggled field (``is_superuser``) is never mistaken for a valid request;
the OpenAPI schema says so with ``additionalProperties: false``. Spaces around a string are
trimmed before its own checks. This is not pydantic's strict mode: types still coerce as usual
(fields that must not, amounts in satang, say so with ``StrictInt``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ClosedModel(BaseModel):
    """A request body that refuses fields it does not know (and trims spaces around its strings)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
