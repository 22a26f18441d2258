"""The package graph: import-linter's contracts (pyproject.toml) hold, and catch a cycle."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root):
    """``lint-imports`` on the ``app`` package under ``root``, with its pyproject.toml."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_contracts_hold():
    """No cycle, every feature above the ledger, web below api, shared modules free."""
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("importer", "imported", "broken"),
    [
        # The ledger reaching up into a feature: a cycle and a layer upside down.
        ("ledger/chain.py", "app.integrity.verify", "No import cycle"),
        ("ledger/models.py", "app.exports.models", "Features depend downwards only"),
        # The dashboard's shared web layer importing the API.
        ("web/errors.py", "app.api.blueprint", "Features depend downwards only"),
        # A feature importing one above it.
        ("keys/services.py", "app.schemas.services", "Features depend downwards only"),
        ("timestamps.py", "app.ledger.models", "The shared modules import no feature"),
        ("ingest/supervisor.py", "app.timestamps", "imports nothing of the app"),
    ],
)
def test_an_import_against_the_grain_breaks_a_contract(tmp_path, importer, imported, broken):
    """The contracts are not vacuous: one added import upwards fails the suite."""
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "app" / importer, "a") as module:
        module.write(f"\nimport {imported}  # against the grain\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    assert broken in result.stdout.split("Broken contracts")[1]


def test_only_the_unit_of_work_commits():
    """Services flush, views and commands declare ``database.writes()``: no other code in
    app/ commits (the event writer, which talks to the driver directly, excepted)."""
    allowed = {ROOT / "app" / "database.py", ROOT / "app" / "ingest" / "writer.py"}
    committing = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "app").rglob("*.py"))
        if path not in allowed
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ".commit()" in line
    ]
    assert committing == []
