"""Bad input for the Build stage's policy validator: files that would exhaust memory or time, and YAML
that YAML 1.1 (PyYAML) and YAML 1.2 read differently. Each is refused with one line naming the file and
the line, never reinterpreted (`release_tools.policy_yaml`)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from release_tools import validate_policy
from release_tools.policy_yaml import MAX_POLICY_BYTES, MAX_POLICY_DEPTH

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "release-policy.v1.schema.json"

BILLION_LAUGHS = """\
version: 1
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _validate(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    policy = tmp_path / "release-policy.yaml"
    policy.write_text(text, encoding="utf-8")
    out = tmp_path / "release-policy.json"
    code = validate_policy.run_cli(
        "validate_policy", lambda: validate_policy.main([str(policy), "--schema", str(SCHEMA), "--out", str(out)])
    )
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert err.count("\n") == 1 and "Traceback" not in err and "unexpected" not in err, err
    return err.strip().removeprefix(f"validate_policy: {policy}")


def test_a_billion_laughs_is_refused_at_its_first_anchor_in_little_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(BILLION_LAUGHS.encode()) < 400
    tracemalloc.start()
    try:
        message = _validate(tmp_path, BILLION_LAUGHS, capsys)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == ":2: anchor &a: anchors and aliases are not used in a release policy"
    assert peak < 5 * 1024 * 1024, f"{peak} bytes"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nmetrics: *m\n", ":2: alias *m: anchors and aliases are not used in a release policy"),
        ("version: !!int 1\n", ":1: tag tag:yaml.org,2002:int: tags are not used in a release policy"),
        ("version: 1\nmetrics:\n  auc:\n    <<: {min: 0.9}\n", ":4: metrics.auc: merge keys (<<) are not used"),
        ("version: 1\nmetrics: " + "[" * 5000 + "]" * 5000 + "\n", f":2: nested more than {MAX_POLICY_DEPTH} levels deep"),
        (
            "version: 1\nmetrics:\n  auc: {min: 0." + "9" * 400 + "}\n",
            ":3: metrics.auc.min: a number of 402 characters (0.999999999999999999...) is longer than the 40 allowed",
        ),
        ("version: " + "1" * 5000 + "\n", ":1: version: a number of 5000 characters"),
    ],
    ids=["alias", "tag", "merge-key", "5000-deep", "400-digit-float", "5000-digit-int"],
)
def test_resource_exhausting_yaml_is_one_line_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    assert _validate(tmp_path, text, capsys).startswith(expected)


def test_a_policy_file_larger_than_the_bound_is_refused_before_parsing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "version: 1\n" + "# padding\n" * (MAX_POLICY_BYTES // 10)
    assert _validate(tmp_path, text, capsys) == ": larger than the 64 KiB a release policy may be"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "  max_p95_latency_ms: 1:30",
            ":3: staging.max_p95_latency_ms: '1:30' is a base-60 number to YAML 1.1 (PyYAML) and text to YAML 1.2",
        ),
        (
            "  max_p95_latency_ms: 0200",
            ":3: staging.max_p95_latency_ms: '0200' has a leading zero: YAML 1.1 (PyYAML) "
            "reads it as an octal number, YAML 1.2 as decimal: write 200",
        ),
        ("  max_p95_latency_ms: 0x1F", "'0x1F' is a hexadecimal, octal or binary number: write it in decimal"),
        ("  max_p95_latency_ms: 1_000", "'1_000' has digit separators"),
        (
            "  max_p95_latency_ms: 1e3",
            ":3: staging.max_p95_latency_ms: '1e3' is text to YAML 1.1 (PyYAML: an exponent needs a decimal point and a "
            "sign) and a number to YAML 1.2: write 1000 or 1.0e+3",
        ),
        ("  max_error_rate: 1e-2", "'1e-2' is text to YAML 1.1"),
        ("  max_error_rate: no", ":3: staging.max_error_rate: 'no' is a boolean to YAML 1.1 (PyYAML) and text to YAML 1.2"),
        ("  NO: 0.1", ":3: staging: 'NO' is a boolean to YAML 1.1"),
        ("  1: 0.1", ":3: staging: the key 1 is not text: quote it"),
        ('  "max_error_rate\\n": 0.1', ":3: staging: 'max_error_rate\\n' has a control character (a newline?)"),
    ],
)
def test_yaml_read_differently_by_yaml_versions_is_refused_not_reinterpreted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, expected: str
) -> None:
    assert expected in _validate(tmp_path, f"version: 1\nstaging:\n{line}\n", capsys)


def test_a_metric_name_with_a_trailing_newline_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "version: 1\nmetrics:\n  ? |\n    roc_auc\n  : {min: 0.9}\n"
    assert "metrics: 'roc_auc\\n' has a control character (a newline?) or surrounding blanks" in _validate(tmp_path, text, capsys)


@pytest.mark.parametrize(
    ("value", "number"),
    [("0.95", 0.95), (".5", 0.5), ("1.0e+3", 1000.0), ("1.5e-4", 0.00015), ("200", 200), ("0", 0), ("'text'", None)],
)
def test_numbers_both_yaml_versions_agree_on_are_accepted(tmp_path: Path, value: str, number: float | None) -> None:
    policy = tmp_path / "release-policy.yaml"
    policy.write_text(f"version: 1\nstaging:\n  max_p95_latency_ms: {value}\n", encoding="utf-8")
    data, lines = validate_policy.load_policy(policy)
    assert data["staging"]["max_p95_latency_ms"] == (number if number is not None else "text")
    assert lines[("staging", "max_p95_latency_ms")] == 3
