"""Every integer and every date a service takes is bounded (issue 21, point 1): money by the domain
maximum (``shared.schemas.MAX_SATANG``), any other integer by what its column holds, each date by a
window that fits what it records (``shared.schemas.DateWindow``). This walks every request body
(closed or not, and the models inside it) and every query parameter of every app's routes, and
fails on an integer without both bounds, a count that an ``integer`` column cannot hold, an amount
of money without the domain maximum, or a date without a window. No database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any, get_args, get_origin

import annotated_types as at
import pytest
from fastapi.dependencies.models import Dependant
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    FutureDate,
    FutureDatetime,
    NaiveDatetime,
    PastDate,
    PastDatetime,
    TypeAdapter,
    ValidationError,
)

from shared.schemas import DATE_WINDOWS, INT4_MAX, INT4_MIN, MAX_SATANG, SATANG_CHECK, DateWindow
from tests.support.apps import app_routes

APPS = ("members", "ledger", "benefits", "grants", "gateway")


Leaf = tuple[str, type, tuple[Any, ...]]


def leaves(where: str, annotation: Any, metadata: tuple[Any, ...] = (), seen: set[type] | None = None) -> Iterator[Leaf]:
    """Every int, date and datetime inside ``annotation`` (through Annotated, unions, lists and
    models), with the metadata that applies to it."""
    seen = set() if seen is None else seen
    if get_origin(annotation) is Annotated:
        base, *more = get_args(annotation)
        yield from leaves(where, base, (*metadata, *more), seen)
    elif annotation in (int, dt.date, dt.datetime):
        yield where, annotation, metadata
    elif annotation in (AwareDatetime, NaiveDatetime, PastDatetime, FutureDatetime, PastDate, FutureDate):
        yield where, dt.date, metadata
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        for name, field in annotation.model_fields.items():
            yield from leaves(f"{annotation.__name__}.{name}", field.annotation, tuple(field.metadata), seen)
    else:
        for arg in get_args(annotation):
            yield from leaves(where, arg, metadata, seen)


def bounds(metadata: tuple[Any, ...]) -> tuple[int | None, int | None]:
    """The lowest and highest values constraints let through (the last of each kind applies)."""
    low = high = None
    for m in metadata:
        for item in getattr(m, "metadata", [m]):  # a FieldInfo inside Annotated carries its own
            if isinstance(item, at.Ge):
                low = item.ge
            elif isinstance(item, at.Gt):
                low = item.gt + 1
            elif isinstance(item, at.Le):
                high = item.le
            elif isinstance(item, at.Lt):
                high = item.lt - 1
    return low, high


def problem(where: str, kind: type, metadata: tuple[Any, ...]) -> str | None:
    """What is wrong with one leaf, or None."""
    if kind is int:
        low, high = bounds(metadata)
        if SATANG_CHECK in metadata:
            return None if low is not None and (high is None or high <= MAX_SATANG) else "money without a lower bound"
        if where.endswith("_satang"):
            return "money that is not shared.schemas.Satang"
        if low is None or high is None:
            return "an integer without both bounds"
        if low < INT4_MIN or high > INT4_MAX:
            return "an integer an `integer` column cannot hold"
        return None
    windows = [m for m in metadata if isinstance(m, AfterValidator) and isinstance(m.func, DateWindow)]
    return None if any(w.func in DATE_WINDOWS for w in windows) else "a date without a window"


def query_params(dependant: Dependant) -> Iterator[Any]:
    """The query parameters of a route and of every dependency it solves."""
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from query_params(sub)


def inputs() -> Iterator[tuple[str, Leaf]]:
    for app in APPS:
        for route in app_routes(app):
            label = f"{app} {','.join(sorted(route.methods))} {route.path}"
            body = route.original_route.body_field
            if body is not None:
                for leaf in leaves("body", body.field_info.annotation):
                    yield label, leaf
            for param in query_params(route.dependant):
                info = param.field_info
                yield from ((label, leaf) for leaf in leaves(f"query {param.alias}", info.annotation, tuple(info.metadata)))


def test_every_integer_and_date_a_service_takes_is_bounded() -> None:
    found = list(inputs())
    assert any(where == "DepositIn.amount_satang" for _, (where, _, _) in found), "the walk reaches the lean routes"
    assert any(where == "DepositIn.collected_at" for _, (where, _, _) in found), "and pydantic's own date types"
    assert any(where == "query year" for _, (where, _, _) in found), "and query parameters"
    wrong = sorted({f"{label}: {where} ({kind.__name__}): {why}" for label, (where, kind, metadata) in found
                    if (why := problem(where, kind, metadata))})
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize(
    ("where", "kind", "metadata", "wrong"),
    [
        ("X.n", int, (), "an integer without both bounds"),
        ("X.n", int, (at.Ge(0),), "an integer without both bounds"),
        ("X.n", int, (at.Ge(0), at.Le(2**31)), "an integer an `integer` column cannot hold"),
        ("X.n", int, (at.Gt(0), at.Lt(2**31)), None),
        ("X.amount_satang", int, (at.Gt(0),), "money that is not shared.schemas.Satang"),
        ("X.amount_satang", int, (SATANG_CHECK, at.Gt(0)), None),
        ("X.amount_satang", int, (SATANG_CHECK,), "money without a lower bound"),
        ("X.on", dt.date, (), "a date without a window"),
        ("X.on", dt.date, (AfterValidator(DateWindow(dt.date(2000, 1, 1), 1)),), "a date without a window"),
        ("X.on", dt.date, (AfterValidator(DATE_WINDOWS[0]),), None),
    ],
)
def test_the_walk_tells_bounded_from_unbounded(where: str, kind: type, metadata: tuple[Any, ...], wrong: str | None) -> None:
    assert problem(where, kind, metadata) == wrong


def optional_fields(name: str, annotation: Any, seen: set[type]) -> Iterator[tuple[str, Any]]:
    """Every field of the models inside ``annotation`` (a body), as ``Model.field`` and the
    annotation pydantic validates it with (its own type and the field's constraints)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        for field_name, field in annotation.model_fields.items():
            yield f"{annotation.__name__}.{field_name}", Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
            yield from optional_fields(field_name, field.annotation, seen)
    else:
        for arg in get_args(annotation):
            yield from optional_fields(name, arg, seen)


def test_a_null_where_a_field_takes_one_is_never_a_server_error() -> None:
    """A constraint put on an optional after a validator (``Annotated[int | None, BeforeValidator(f),
    Field(ge=1)]``) meets the None and
    raises a TypeError, a 500, where a null is allowed or should be a 422 (found by fuzzing: a
    member's village number sent as null)."""
    crashed = []
    for app in APPS:
        for route in app_routes(app):
            body = route.original_route.body_field
            if body is None:
                continue
            for where, annotation in optional_fields("body", body.field_info.annotation, set()):
                try:
                    TypeAdapter(annotation).validate_python(None)
                except ValidationError:
                    pass
                except TypeError as error:
                    crashed.append(f"{app} {route.path}: {where}: {error}")
    assert crashed == [], "\n".join(sorted(set(crashed)))


def test_the_null_check_finds_a_constraint_on_an_optional() -> None:
    wrong = Annotated[int | None, BeforeValidator(lambda v: v), Field(ge=1, le=99)]
    right = Annotated[Annotated[int, Field(ge=1, le=99)] | None, BeforeValidator(lambda v: v)]
    with pytest.raises(TypeError):
        TypeAdapter(wrong).validate_python(None)
    assert TypeAdapter(right).validate_python(None) is None
