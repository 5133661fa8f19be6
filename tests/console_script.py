"""The installed `salesgenie` console script, run the way a user runs it, for the CLI tests."""

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

SALESGENIE = Path(sys.executable).parent / "salesgenie"

# The keys of DESIGN.md's `--json` answer, written out here so the tests hold the contract.
CONTRACT_KEYS = frozenset(
    {
        "status",
        "question",
        "answer",
        "sql",
        "columns",
        "rows",
        "chart",
        "backend",
        "elapsed_ms",
        "error",
    }
)


def run_salesgenie(
    *args: str,
    cwd: Path,
    set_env: Mapping[str, str] | None = None,
    unset_env: Iterable[str] = (),
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`salesgenie ARGS` in `cwd`: this environment, minus `unset_env` (names or prefixes of
    names), plus `set_env`."""
    assert SALESGENIE.exists(), f"no salesgenie script next to {sys.executable}: pip install -e ."
    dropped = tuple(unset_env)
    env = {k: v for k, v in os.environ.items() if not (dropped and k.startswith(dropped))}
    return subprocess.run(
        [str(SALESGENIE), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env={**env, **(set_env or {})},
        timeout=timeout,
    )
