"""The pipeline stack composes and wires: every IAM statement and cdk-nag acknowledgement is made by a component."""

from __future__ import annotations

import ast
from pathlib import Path

import stacks.pipeline_stack

SOURCE = Path(stacks.pipeline_stack.__file__).read_text(encoding="utf-8")
TREE = ast.parse(SOURCE)


def _names_used() -> set[str]:
    names = {node.id for node in ast.walk(TREE) if isinstance(node, ast.Name)}
    return names | {node.attr for node in ast.walk(TREE) if isinstance(node, ast.Attribute)}


def test_the_stack_writes_no_policy_statement_and_no_acknowledgement() -> None:
    used = _names_used()
    written_here = {"PolicyStatement", "add_to_principal_policy", "add_to_policy", "acknowledge", "Acknowledgment"}
    assert not used & written_here, sorted(used & written_here)


def test_the_stack_constructor_composes_in_about_fifty_lines() -> None:
    (stack,) = [n for n in TREE.body if isinstance(n, ast.ClassDef) and n.name == "PipelineStack"]
    (init,) = [n for n in stack.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
    assert (init.end_lineno or 0) - init.lineno + 1 <= 60
