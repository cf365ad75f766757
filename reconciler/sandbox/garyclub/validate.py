"""Body validation for Gary Club writes: 400 invalid_request naming the field, as the docs say."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.sandbox.garyclub.state import ApiError

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _tags(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(t, str) for t in v)


def _obj(v: Any) -> bool:
    return isinstance(v, dict)


STR, NUM, TAGS, OBJ = _str, _num, _tags, _obj
KIND: dict[Callable[[Any], bool], str] = {_str: "a string", _num: "a number", _tags: "an array of strings",
                                          _obj: "an object"}


def check(data: dict[str, Any], spec: Mapping[str, Callable[[Any], bool]]) -> None:
    """Unknown fields and wrongly typed values are refused; null is accepted (clears the field).

    Sandbox choice: the docs do not say what happens to undocumented body fields; refusing them
    keeps adapters to the documented surface instead of writing fields the vendor drops.
    """
    for name, value in data.items():
        test = spec.get(name)
        if test is None:
            raise ApiError(400, "invalid_request", f"Unknown field: {name}", {"field": name})
        if value is not None and not test(value):
            raise ApiError(400, "invalid_request", f"{name} must be {KIND[test]}", {"field": name})


def check_phone(phone: Any) -> None:
    if phone is not None and not E164.match(phone):
        raise ApiError(400, "invalid_request", "phone must be in E.164 format (e.g. +14155550123)", {"field": "phone"})


def check_email(email: Any) -> None:
    if email is not None and not EMAIL.match(email):
        raise ApiError(400, "invalid_request", "email is not a valid email address", {"field": "email"})
