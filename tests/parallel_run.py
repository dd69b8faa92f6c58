"""How the suite spreads over the machine's cores (pytest-xdist; pytest.ini asks for `-n auto --dist loadfile`).

* `make test` (the whole suite) runs on one worker per core, up to four; a run of
  named test files or tests stays in one process, as its few tests would not repay
  the start of each worker (it imports the CDK and loads it into a jsii process
  of its own). `PYTEST_XDIST_AUTO_NUM_WORKERS` or `-n N` on the command line
  decide otherwise.
* Each test module runs whole on one worker (`--dist loadfile`), so its module
  fixtures (three rehearsals, a synthesized variant...) are made once. The
  syntheses and scans several modules share are made once per run for all workers
  (tests/synthesis_fixtures.py, tests/template_scans.py).
* The modules that take longest are handed out first (`SLOWEST_MODULES`), so no
  worker is left with a long module at the end while the other waits.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["SLOWEST_MODULES", "pytest_collection_modifyitems", "pytest_xdist_auto_num_workers"]

MOST_WORKERS = 4

# The modules that take longest (measured with bench/bench_make_test.py), slowest first. A module
# missing here only runs later; the order of the tests inside each module never changes.
SLOWEST_MODULES = (
    "tests/test_accounts.py",  # first: it makes the syntheses and scans other modules share
    "tests/test_rehearsal_run.py",  # second: it makes the shared first rehearsal (tests/rehearsal_fixtures.py)
    "tests/test_make_rehearse_fresh_clone.py",
    "tests/test_config_bad_input.py",
    "tests/test_bad_input_cli_and_server.py",
    "tests/test_app_startup.py",
    "tests/test_byoc_example.py",
    "tests/test_rehearsal_action_parameters.py",
    "tests/test_bad_inputs_functions.py",
    "tests/test_staging_gate_handler.py",
    "tests/test_contracts_match_schemas.py",
    "tests/test_rehearsal_report_verdicts.py",
    "tests/test_connection_source.py",
    "tests/test_platform_tools_isolation.py",
    "tests/test_config.py",
    "tests/test_rollback.py",
    "tests/test_release_tools_train_and_register.py",
    "tests/test_evaluation_gate_handler.py",
    "tests/test_bad_inputs_policy.py",
    "tests/test_template_checks.py",
    "tests/test_release_policy.py",
)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """The number of workers `-n auto` starts (see the module docstring); 0 runs in this process."""
    requested = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if requested:
        return int(requested)
    if any(Path(argument.split("::")[0]).is_file() for argument in config.args):
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cores, MOST_WORKERS) if cores > 1 else 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the slowest modules first, keeping every module's tests together and in their order."""
    rank = {module: position for position, module in enumerate(SLOWEST_MODULES)}
    root = Path(str(config.rootpath))

    def module_rank(item: pytest.Item) -> int:
        try:
            module = item.path.relative_to(root).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(module, len(rank))

    items.sort(key=module_rank)  # stable: the other modules keep their collected order
