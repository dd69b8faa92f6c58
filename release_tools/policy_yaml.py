"""Read ``release-policy.yaml`` safely: bounded, and meaning the same to every YAML reader.

A policy is a few lines of mappings and numbers, so everything else is refused
with one line naming the file and the line, never reinterpreted:

- resources: files over ``MAX_POLICY_BYTES``, nesting deeper than
  ``MAX_POLICY_DEPTH``, numbers longer than ``MAX_NUMBER_CHARS``; anchors and
  aliases (a 353-byte "billion laughs" file expands to gigabytes), tags and
  merge keys (``<<``);
- scalars that YAML 1.1 (PyYAML, the Build stage's parser) and YAML 1.2 (most
  other tools) read differently, or that read as something other than they
  look: ``1:30`` (90 in base 60), ``0200`` (octal 128), ``0x1F``, ``1_000``,
  ``1e3`` (text to YAML 1.1, a number to 1.2), ``yes``/``no``/``on``/``off``
  (booleans to YAML 1.1, text to 1.2), keys that are not text, strings with
  control characters or surrounding blanks (a metric name with a trailing
  newline).

Plain scalars resolve to the YAML 1.2 core types that both versions agree on:
``null``/``~``, ``true``/``false``, decimal integers, and decimal floats with a
point (``0.95``, ``.5``, ``1.0e+3``), plus ``.nan``/``.inf``, which the
validator refuses as not finite. Quoted and block scalars are text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ReleaseToolError

__all__ = [
    "MAX_NUMBER_CHARS",
    "MAX_POLICY_BYTES",
    "MAX_POLICY_DEPTH",
    "KeyPath",
    "PolicyError",
    "read_policy_yaml",
]

MAX_POLICY_BYTES = 64 * 1024
"""A policy with a rule for each of 400 metrics is about 12 KB."""

MAX_POLICY_DEPTH = 8
"""Mappings nest three levels deep in a valid policy (``metrics.roc_auc.min``)."""

MAX_NUMBER_CHARS = 40
"""Characters in one number (a double has 17 significant digits)."""

KeyPath = tuple[str | int, ...]

_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?((0|[1-9][0-9]*)\.[0-9]*|\.[0-9]+)([eE][-+][0-9]+)?")
_SPECIAL_FLOATS = {
    sign + spelling: float(f"{sign}{spelling[1:]}")
    for spelling in (".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN")
    for sign in ("", "+", "-")
    if sign == "" or "inf" in spelling.lower()
}
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLEANS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_YAML11_BOOLEANS = frozenset(
    spelling for word in ("y", "yes", "n", "no", "on", "off") for spelling in (word, word.capitalize(), word.upper())
)
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9_]+(\.[0-9_]*)?")
_PREFIXED = re.compile(r"[-+]?0[xXoObB][0-9a-fA-F_]+")
_UNDERSCORED = re.compile(r"[-+]?[0-9._]*_[0-9._]*([eE][-+]?[0-9]+)?")
_EXPONENT = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class PolicyError(ReleaseToolError):
    """The policy file is refused; the message is the one line to print."""


def _dotted(path: KeyPath) -> str:
    return ".".join(str(part) for part in path) or "(top level)"


def _exponent_advice(text: str) -> str:
    """`write 1000 or 1.0e+3` for `1e3`: spellings both YAML versions read as the same number."""
    mantissa, exponent = re.split("[eE]", text)
    spelled = f"{mantissa if '.' in mantissa else mantissa + '.0'}e{_signed(exponent)}"
    value = float(text)
    if value.is_integer() and abs(value) < 1e16:
        return f"write {int(value)} or {spelled}"
    return f"write {spelled}"


def _signed(exponent: str) -> str:
    return exponent if exponent[:1] in ("+", "-") else f"+{exponent}"


def _ambiguity(text: str) -> str | None:
    """Why a plain scalar would be read differently by YAML 1.1 and 1.2 (or than it looks); None if it is not."""
    if text in _YAML11_BOOLEANS:
        return (
            f"{text!r} is a boolean to YAML 1.1 (PyYAML) and text to YAML 1.2: "
            "write true or false, or quote it if you mean the word"
        )
    if _SEXAGESIMAL.fullmatch(text):
        return f"{text!r} is a base-60 number to YAML 1.1 (PyYAML) and text to YAML 1.2: write the number you mean, or quote it"
    if _PREFIXED.fullmatch(text):
        return f"{text!r} is a hexadecimal, octal or binary number: write it in decimal"
    if _LEADING_ZERO.fullmatch(text):
        return (
            f"{text!r} has a leading zero: YAML 1.1 (PyYAML) reads it as an octal number, YAML 1.2 as decimal: "
            f"write {text.lstrip('+-').lstrip('0') or '0'} without the leading zero"
        )
    if _UNDERSCORED.fullmatch(text) and any(c.isdigit() for c in text):
        return f"{text!r} has digit separators: YAML 1.1 ignores them, YAML 1.2 reads text: write {text.replace('_', '')}"
    if _EXPONENT.fullmatch(text):
        return (
            f"{text!r} is text to YAML 1.1 (PyYAML: an exponent needs a decimal point and a sign) "
            f"and a number to YAML 1.2: {_exponent_advice(text)}"
        )
    return None


def _plain_scalar(text: str) -> Any:
    """The value of a plain (unquoted) scalar, or ValueError saying why it is refused."""
    if text in _NULLS:
        return None
    if text in _BOOLEANS:
        return _BOOLEANS[text]
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    is_int, is_float = _INT.fullmatch(text), _FLOAT.fullmatch(text)
    if (is_int or is_float) and len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number of {len(text)} characters ({text[:20]}...) is longer than the {MAX_NUMBER_CHARS} allowed")
    if is_int:
        return int(text)
    if is_float:
        return float(text)
    problem = _ambiguity(text)
    if problem:
        raise ValueError(problem)
    return text


@dataclass
class _Converter:
    """Nodes to plain data, recording the line of every key path."""

    source: str
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def fail(self, node: yaml.Node, path: KeyPath, problem: str) -> PolicyError:
        return PolicyError(f"{self.source}:{node.start_mark.line + 1}: {_dotted(path)}: {problem}")

    def text(self, node: yaml.Node, path: KeyPath, value: str) -> str:
        if _CONTROL.search(value) or value != value.strip():
            shown = value if len(value) <= 60 else value[:57] + "..."
            raise self.fail(node, path, f"{shown!r} has a control character (a newline?) or surrounding blanks")
        return value

    def scalar(self, node: yaml.ScalarNode, path: KeyPath) -> Any:
        if node.style is not None:  # quoted or block: text
            return self.text(node, path, node.value)
        try:
            value = _plain_scalar(node.value)
        except ValueError as error:
            raise self.fail(node, path, str(error)) from None
        return self.text(node, path, value) if isinstance(value, str) else value

    def convert(self, node: yaml.Node, path: KeyPath) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, path + (index,)) for index, item in enumerate(node.value)]
        return self.mapping(node, path)

    def mapping(self, node: yaml.Node, path: KeyPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise self.fail(key_node, path, f"the key {key!r} is not text: quote it")
            if key == "<<" and key_node.style is None:
                raise self.fail(key_node, path, "merge keys (<<) are not used in a release policy: write the keys out")
            if key in result:
                raise self.fail(key_node, path + (key,), "duplicate key")
            result[key] = self.convert(value_node, path + (key,))
        return result


class _PolicyLoader(yaml.SafeLoader):
    """Composes nodes only; refuses aliases, anchors, tags and deep nesting as they are met (before any expansion)."""

    def __init__(self, stream: str, source: str) -> None:
        super().__init__(stream)
        self.source, self.depth = source, 0

    def _refuse(self, event: yaml.Event, problem: str) -> PolicyError:
        return PolicyError(f"{self.source}:{event.start_mark.line + 1}: {problem}")

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise self._refuse(event, f"alias *{event.anchor}: anchors and aliases are not used in a release policy")
        if getattr(event, "anchor", None) is not None:
            raise self._refuse(event, f"anchor &{event.anchor}: anchors and aliases are not used in a release policy")
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!":
            raise self._refuse(event, f"tag {tag}: tags are not used in a release policy")
        self.depth += 1
        try:
            if self.depth > MAX_POLICY_DEPTH:
                raise self._refuse(event, f"nested more than {MAX_POLICY_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _read_text(path: Path) -> str:
    source = str(path)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_POLICY_BYTES + 1)
        if len(raw) > MAX_POLICY_BYTES:
            raise PolicyError(f"{source}: larger than the {MAX_POLICY_BYTES // 1024} KiB a release policy may be")
        return raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{source}: cannot read ({exc.__class__.__name__}: {exc})") from exc


def read_policy_yaml(path: Path) -> tuple[Any, dict[KeyPath, int]]:
    """The policy's data and the line of every key path, or :class:`PolicyError` naming the file and line."""
    source = str(path)
    text = _read_text(path)
    loader = _PolicyLoader(text, source)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{source}{where}: YAML syntax error: {problem}") from exc
    finally:
        loader.dispose()
    if root is None:
        raise PolicyError(f"{source}: empty file; expected a mapping with 'version: 1'")
    converter = _Converter(source)
    return converter.convert(root, ()), converter.lines
