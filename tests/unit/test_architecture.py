"""The architecture holds: the import contracts of pyproject.toml (import-linter), the types of
core/ (mypy, configured in pyproject.toml), every imported package declared in the requirements
(deptry), and no function-level imports of `core` inside `core` (a layer's dependencies are all
visible at the top of its modules)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.constants import REPO_ROOT

CORE = REPO_ROOT / "core"
TOOL_TIMEOUT = 240

# import-linter's console script, run by the interpreter running the tests (same venv).
LINT_IMPORTS = (
    "import sys; from importlinter.cli import lint_imports_command; "
    "sys.exit(lint_imports_command())"
)

# The second deptry run: tests/ and bench/ (dev tooling) against requirements.txt plus
# requirements-dev.txt. Packages they use need only be declared (DEP001) and declared
# directly, not merely brought by another requirement (DEP003); they may be dev requirements
# (DEP004) and need not use every requirement (DEP002). The app's own code is checked by
# `deptry .` as configured in pyproject.toml.
DEV_DEPTRY_CONFIG = """\
[tool.deptry]
exclude = ["\\\\.venv", "core", "pages", "scripts", "docs", "data", "app\\\\.py",
           "streamlit_app\\\\.py"]
known_first_party = ["app", "streamlit_app", "pages", "core", "scripts", "tests", "bench"]
requirements_files = ["requirements.txt"]
requirements_files_dev = ["requirements-dev.txt"]
ignore = ["DEP002", "DEP004"]
"""

# The function-level imports of core.* allowed, each with its reason.
FUNCTION_IMPORT_ALLOWED = {
    # The local default must not load the Supabase SDK (test_local_store's
    # test_the_local_default_never_imports_the_supabase_backend): imported when chosen.
    ("core/backends/__init__.py", "core.backends.supabase"),
}


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def _report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit code {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_the_import_contracts_of_pyproject_hold() -> None:
    result = _run(sys.executable, "-c", LINT_IMPORTS, "--no-cache")
    assert result.returncode == 0, _report(result)
    assert "0 broken" in result.stdout, _report(result)


def test_core_type_checks() -> None:
    result = _run(sys.executable, "-m", "mypy", "--no-incremental")
    assert result.returncode == 0, _report(result)
    assert "Success: no issues found" in result.stdout, _report(result)


def test_the_apps_code_imports_only_what_requirements_txt_declares() -> None:
    result = _run(sys.executable, "-m", "deptry", ".", "--no-ansi")
    assert result.returncode == 0, _report(result)


def test_tests_and_benchmarks_import_only_declared_packages(tmp_path: Path) -> None:
    config = tmp_path / "deptry-dev.toml"
    config.write_text(DEV_DEPTRY_CONFIG)
    result = _run(sys.executable, "-m", "deptry", ".", "--no-ansi", "--config", str(config))
    assert result.returncode == 0, _report(result)


def _function_level_core_imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, module) of every import of core.* (or a relative one) inside a function body.
    Module-level `if TYPE_CHECKING:` blocks are outside functions, so they never count."""
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            for module in _imported_core_modules(node):
                yield node.lineno, module


def _imported_core_modules(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "core"]
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        if node.level > 0:
            return ["." * node.level + module]
        if module.split(".")[0] == "core":
            return [module]
    return []


def test_no_module_in_core_imports_core_inside_a_function() -> None:
    found: set[tuple[str, str]] = set()
    lines: list[str] = []
    for path in sorted(CORE.rglob("*.py")):
        name = path.relative_to(REPO_ROOT).as_posix()
        for line, module in _function_level_core_imports(ast.parse(path.read_text(), name)):
            found.add((name, module))
            if (name, module) not in FUNCTION_IMPORT_ALLOWED:
                lines.append(f"{name}:{line}: imports {module} inside a function")
    assert not lines, "import at the top of the module instead:\n" + "\n".join(lines)
    stale = FUNCTION_IMPORT_ALLOWED - found
    assert not stale, f"no longer imported inside a function; drop from the allow-list: {stale}"
