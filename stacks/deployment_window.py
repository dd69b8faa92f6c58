"""CodePipeline's `DeploymentWindow` rule: its own cron format, checked field by field at synth.

CodePipeline's rule reference ("DeploymentWindow", Configuration parameters,
Cron) says: "Cron expressions are comprised of 6 required fields and one
optional field separated by white space", with this table:

    Field name       Allowed values            Allowed special characters
    Seconds          N/A                       *
    Minutes          0-59                      , - * /
    Hours            0-23                      , - * /
    Day-of-month     1-31                      , - * ? / L W
    Month            1-12 or JAN-DEC           , - * /
    Day-of-Week      1-7 or SUN-SAT            , - * ? / L #
    Year (Optional)  empty, 1970-2199          , - * /

and "The '?' character ... is used to specify 'no specific value'. This is
useful when you need to specify something in one of the two fields, but not
the other." The expression matches every moment *inside* the window (the
rule is evaluated when an execution reaches the stage), so weekdays
09:00-17:59 is `* * 9-17 ? * MON-FRI *`. There is no `cron(...)` wrapper:
that is EventBridge's schedule syntax, whose expressions mark start moments
(`cron(0 9-17 ? * MON-FRI *)` is "on the hour"), a different thing; it is
refused with the window form to write instead, never converted silently.

The time zone is checked against the IANA database (Python's zoneinfo).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass

__all__ = ["WindowError", "validate_cron", "validate_time_zone"]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class WindowError(ValueError):
    """A deployment window or time zone that CodePipeline would refuse, with a one-line reason."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    specials: str  # the special characters the rule reference allows, besides digits and names
    names: tuple[str, ...] = ()


# The rule reference's table, one row per field, in order.
_FIELDS = (
    _Field("seconds", 0, 0, "*"),
    _Field("minutes", 0, 59, ",-*/"),
    _Field("hours", 0, 23, ",-*/"),
    _Field("day-of-month", 1, 31, ",-*?/LW"),
    _Field("month", 1, 12, ",-*/", _MONTHS),
    _Field("day-of-week", 1, 7, ",-*?/L#", _DAYS),
    _Field("year", 1970, 2199, ",-*/"),
)
_EXAMPLE = "'* * 9-17 ? * MON-FRI *' (weekdays 09:00-17:59)"


def _value(text: str, field: _Field) -> int:
    if text.isdigit():
        number = int(text)
    elif text.upper() in field.names:
        number = field.names.index(text.upper()) + 1
    else:
        raise WindowError(
            f"{field.name} field: {text!r} is not a value of {field.low}-{field.high}"
            + (f" or {field.names[0]}-{field.names[-1]}" if field.names else "")
        )
    if not field.low <= number <= field.high:
        raise WindowError(f"{field.name} field: {number} is outside {field.low}-{field.high}")
    return number


def _range_or_value(text: str, field: _Field) -> None:
    if text == "*":
        return
    low, dash, high = text.partition("-")
    if not dash:
        _value(text, field)
    elif _value(low, field) > _value(high, field):
        raise WindowError(f"{field.name} field: range {text!r} runs backwards")


def _item(item: str, field: _Field) -> None:
    """One comma-separated element of a field."""
    if item == "?":
        return
    if field.name == "day-of-month" and re.fullmatch(r"L(-\d{1,2})?|LW|\d{1,2}W", item):
        if item.endswith("W") and item != "LW":
            _value(item[:-1], field)
        return
    if field.name == "day-of-week" and re.fullmatch(r"L|[1-7A-Za-z]{1,3}L|[1-7A-Za-z]{1,3}#[1-5]", item):
        if item != "L":
            _value(re.split("[L#]", item)[0], field)
        return
    base, slash, step = item.partition("/")
    if slash:
        if not step.isdigit() or not 1 <= int(step) <= field.high:
            raise WindowError(f"{field.name} field: increment {step!r} is not an integer from 1 to {field.high}")
    _range_or_value(base, field)


def _check_field(text: str, field: _Field) -> None:
    if field.name == "seconds":
        if text != "*":
            raise WindowError(f"seconds field: {text!r} is not allowed; the rule reference allows only '*'")
        return
    used = set(re.sub(r"[0-9A-Za-z]", "", text))
    if "?" in text and field.name not in ("day-of-month", "day-of-week"):
        raise WindowError(f"{field.name} field: '?' is allowed only in day-of-month and day-of-week")
    extra = sorted(used - set(field.specials))
    if extra:
        raise WindowError(
            f"{field.name} field: {''.join(extra)!r} is not allowed; allowed special characters: {' '.join(field.specials)}"
        )
    for item in text.split(","):
        if not item:
            raise WindowError(f"{field.name} field: an empty element in {text!r}")
        _item(item, field)


def _eventbridge_hint(expression: str) -> str:
    """The window form for an EventBridge `cron(min hour dom month dow [year])`, when it has that shape."""
    fields = expression[len("cron(") : -1].split()
    if len(fields) in (5, 6):
        year = fields[5] if len(fields) == 6 else "*"
        return f"; for the hours {fields[1]} write '* * {fields[1]} {fields[2]} {fields[3]} {fields[4]} {year}'"
    return ""


def validate_cron(expression: str) -> str:
    """The expression unchanged when CodePipeline's DeploymentWindow rule accepts it; else WindowError."""
    if not isinstance(expression, str):
        raise WindowError(f"{expression!r} is not a string; write a window such as {_EXAMPLE}")
    if expression.startswith("cron(") and expression.endswith(")"):
        raise WindowError(
            "an EventBridge 'cron(...)' schedule marks start moments, not a window; CodePipeline's DeploymentWindow "
            f"takes 6 or 7 fields, seconds first, no wrapper, matching every moment inside the window, e.g. {_EXAMPLE}"
            + _eventbridge_hint(expression)
        )
    fields = expression.split(" ")
    if expression != expression.strip() or "" in fields or len(fields) not in (6, 7):
        raise WindowError(
            f"{len(expression.split())} space-separated fields; a DeploymentWindow cron has 6 fields "
            f"and an optional year, separated by single spaces, e.g. {_EXAMPLE}"
        )
    for text, field in zip(fields, _FIELDS, strict=False):
        _check_field(text, field)
    day_of_month, day_of_week = fields[3], fields[5]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise WindowError(f"exactly one of day-of-month and day-of-week must be '?' (no specific value), e.g. {_EXAMPLE}")
    return expression


def validate_time_zone(name: str) -> str:
    """The name unchanged when it is in the IANA time zone database; else WindowError."""
    available = zoneinfo.available_timezones()
    if not available:
        raise WindowError("no IANA time zone database on this machine to check against (install tzdata)")
    if not isinstance(name, str) or name not in available:
        raise WindowError("not in the IANA time zone database; allowed: a name such as UTC, Europe/Paris or America/New_York")
    return name
