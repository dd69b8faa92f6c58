"""`python -m rehearsal run|serve`: the command line and its exit codes.

Exit codes: 0 released (or the server stopped cleanly), 1 a gate or stage
blocked the release (the last line says which rule and why), 2 a usage or
configuration error, including a file the model repository lacks, a
foreign `--out` folder or another rehearsal running in it (one line, no
traceback), 130 interrupted (Ctrl-C or SIGTERM; the report says what ran).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from rehearsal.errors import ConfigurationError
from rehearsal.local_training import parse_hyperparameter
from rehearsal.output_folder import claim_output_folder
from release_tools.build_signals import INTERRUPTING_SIGNALS, keyboard_interrupt, signals_raise

__all__ = ["main"]

EXIT_RELEASED = 0
EXIT_BLOCKED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
MAX_STOP_AFTER_SECONDS = 7 * 24 * 3600


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"rehearsal: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m rehearsal", description="The local release rehearsal.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="train, evaluate, gate, serve and promote a model locally")
    run.add_argument("--model-repo", type=Path, default=Path("model_repo"), help="default: model_repo/")
    run.add_argument("--out", type=Path, default=Path(".rehearsal"), help="default: .rehearsal/")
    run.add_argument(
        "--hyperparameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="passed to train.py as --NAME VALUE and in SM_HPS (repeatable)",
    )
    run.add_argument("--skip-model-tests", action="store_true", help="do not run the model repository's tests")
    run.add_argument("--bootstrap-resamples", type=int, default=None, help="evaluate.py --resamples (default: the script's)")
    run.add_argument(
        "--platform-floors",
        type=Path,
        default=None,
        help="JSON file of platform floors (release-policy shape), given to the gates as PLATFORM_FLOORS",
    )
    run.add_argument("--source-revision", default="local", help="recorded in evaluation.json and release.json")
    serve = commands.add_parser("serve", help="serve a model.tar.gz with SageMaker container semantics")
    serve.add_argument("--model-data", type=Path, required=True, help="the model.tar.gz to serve")
    serve.add_argument("--port", type=int, default=8080, help="default 8080 (0: any free port)")
    serve.add_argument("--endpoint-name", default=None, help="only answer /endpoints/<this>/invocations")
    serve.add_argument("--stop-after", type=float, default=None, metavar="SECONDS", help="stop by itself after this")
    return parser


def _read_floors(path: Path | None) -> str | None:
    """The floors file's text, validated as the app validates `platform_floors` (policy shape): a bad
    file is a configuration error (exit 2), not a model blocked by its gates."""
    if path is None:
        return None
    from rehearsal.runner import POLICY_SCHEMA
    from release_tools.errors import ReleaseToolError
    from release_tools.validate_policy import validate_policy_file

    try:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
        validate_policy_file(path, POLICY_SCHEMA)
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"--platform-floors {path}: {type(error).__name__}: {error}") from None
    except ReleaseToolError as error:
        raise ConfigurationError(f"--platform-floors {error}") from None
    return text


def _run(args: argparse.Namespace) -> int:
    from rehearsal.runner import RehearsalOptions, run_rehearsal

    try:
        hyperparameters = dict(parse_hyperparameter(item) for item in args.hyperparameter)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    if args.bootstrap_resamples is not None and args.bootstrap_resamples < 1:
        raise ConfigurationError(f"--bootstrap-resamples must be positive, got {args.bootstrap_resamples}")
    options = RehearsalOptions(
        model_repo=args.model_repo,
        out_dir=args.out,
        skip_model_tests=args.skip_model_tests,
        hyperparameters=hyperparameters,
        resamples=args.bootstrap_resamples,
        platform_floors=_read_floors(args.platform_floors),
        source_revision=args.source_revision,
    )
    with claim_output_folder(args.out) as out_dir:
        result = run_rehearsal(replace(options, out_dir=out_dir))
    print(f"report: {args.out / 'report.md'}")
    print(result.verdict_line)
    return result.exit_code


def _serve(args: argparse.Namespace) -> int:
    from rehearsal.inference_model import load_model_archive
    from rehearsal.inference_server import serve_until_interrupted

    _check_serve_options(args)
    with tempfile.TemporaryDirectory(prefix="rehearsal-serve-") as work:
        model = load_model_archive(args.model_data, Path(work))
        try:
            serve_until_interrupted(model, args.port, endpoint_name=args.endpoint_name, stop_after_seconds=args.stop_after)
        except OSError as error:
            raise ConfigurationError(f"cannot listen on 127.0.0.1:{args.port}: {error.strerror}") from None
    return EXIT_RELEASED


def _check_serve_options(args: argparse.Namespace) -> None:
    from rehearsal.inference_server import endpoint_name_problem

    if not 0 <= args.port <= 65535:
        raise ConfigurationError(f"--port {args.port} is not a TCP port")
    problem = None if args.endpoint_name is None else endpoint_name_problem(args.endpoint_name)
    if problem:
        raise ConfigurationError(f"--endpoint-name {problem}")
    stop_after = args.stop_after
    if stop_after is not None and not (math.isfinite(stop_after) and 0 < stop_after <= MAX_STOP_AFTER_SECONDS):
        raise ConfigurationError(f"--stop-after {stop_after} must be a number of seconds above 0, at most a week")


def main(argv: list[str] | None = None) -> int:
    """Parse `argv`, run the command, return the exit code."""
    args = _parser().parse_args(argv)
    try:
        with signals_raise(INTERRUPTING_SIGNALS, keyboard_interrupt):
            return _run(args) if args.command == "run" else _serve(args)
    except ConfigurationError as error:
        print(f"rehearsal: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("rehearsal: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
