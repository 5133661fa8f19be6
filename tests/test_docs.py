"""The docs stay honest: README set-up commands are the ones CI runs; the CLI they name exists."""

import re
from pathlib import Path

from typer.testing import CliRunner

from salesgenie.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _setup_commands() -> list[str]:
    section = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_has_exactly_two_setup_commands():
    commands = _setup_commands()
    assert len(commands) == 2
    assert commands[0].startswith("python3 -m venv .venv") and commands[0].endswith(
        "salesgenie demo"
    )
    assert commands[1].startswith("python3 -m venv .venv") and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _setup_commands()[1] in ci_lines


def test_every_pipeline_command_in_the_readme_exists():
    documented = set(re.findall(r"`salesgenie pipeline (\w[\w-]*)", README))
    result = CliRunner().invoke(app, ["pipeline", "--help"])
    assert result.exit_code == 0
    listed = set(re.findall(r"│ (\w[\w-]*)\s", result.output))
    assert documented and documented <= listed


def test_every_training_option_in_the_readme_exists():
    documented = set(re.findall(r"^\| `(--[\w-]+)`", README, flags=re.MULTILINE))
    result = CliRunner().invoke(app, ["pipeline", "train", "--help"], env={"COLUMNS": "200"})
    assert documented and all(option in result.output for option in documented)


def test_every_environment_setting_is_documented():
    """Each variable the code reads appears in the README's Settings table."""
    settings_section = README.split("## Settings", 1)[1].split("\n## ", 1)[0]
    names = set()
    for package in ("salesgenie", "pipeline", "agent", "semantic_layer", "evals"):
        for path in (ROOT / package).rglob("*.py"):
            names |= set(
                re.findall(
                    r"\"((?:SALESGENIE|DATABRICKS|OPENAI|MLFLOW|SLACK)_[A-Z_]+)\"", path.read_text()
                )
            )
    assert names, "no settings found: the scan is broken"
    missing = sorted(n for n in names if f"`{n}`" not in settings_section)
    assert missing == []
