"""Promises about the project itself: the README's commands, CI, typing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def quick_start_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S)
    assert block, "README's Quick start has no fenced code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_has_exactly_two_commands() -> None:
    lines = quick_start_lines()
    assert len(lines) == 2
    assert lines[0].startswith("pip install") and "gridfold run" in lines[0]
    assert lines[1].startswith("pip install") and "pytest" in lines[1]


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "set -euo pipefail" in script
    assert quick_start_lines()[1] in script


def test_quick_start_study_file_exists() -> None:
    study = re.search(r"gridfold run (\S+)", quick_start_lines()[0])
    assert study and (ROOT / study.group(1)).is_file()


@pytest.mark.skipif(shutil.which("mypy") is None, reason="mypy is installed by the test extra")
def test_package_is_mypy_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_import_has_no_side_effects() -> None:
    code = (
        "import sys, threading, os, tempfile; before = set(os.listdir(tempfile.gettempdir()));"
        "import gridfold;"
        "assert threading.active_count() == 1, threading.enumerate();"
        "assert 'distributed' not in sys.modules and 'matplotlib' not in sys.modules;"
        "new = set(os.listdir(tempfile.gettempdir())) - before;"
        "assert not [n for n in new if n.startswith('gridfold')], new"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_every_public_name_resolves() -> None:
    import gridfold

    assert set(gridfold.__all__) - {"__version__"} == set(gridfold._PUBLIC)
    for name in gridfold.__all__:
        assert getattr(gridfold, name) is not None


def _top_level_imports(path: Path) -> set[str]:
    """Modules ``path`` imports when it is imported (not inside functions or TYPE_CHECKING)."""
    import ast

    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_package_imports_form_no_cycle() -> None:
    """gridfold's modules import each other as a tree (a DAG): no cycle to close lazily."""
    package = ROOT / "gridfold"
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {
        name: {m for m in _top_level_imports(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    assert not {m for m in _top_level_imports(modules["gridfold.runtime"]) if "gridfold" in m}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            assert state.get(dep) != 1, f"import cycle: {' -> '.join([*path, name, dep])}"
            if dep not in state:
                visit(dep, [*path, name])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
