"""The checks the DeepRacer console runs on a reward function before training (SPEC 1.1).

These are static: they read the source and never run it. Each `Finding` says whether racer itself
would fail on it (``error``) or only the DeepRacer console would reject the file (``console``):
racer runs any importable Python, the console allows five modules and no file access.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import tokenize
from dataclasses import dataclass
from pathlib import Path

from pyflakes import messages as flake_messages
from pyflakes.checker import Checker

#: Modules the console's validator lets a reward function import.
ALLOWED_IMPORTS = ("math", "random", "numpy", "scipy", "shapely")
#: Builtins the console forbids.
FORBIDDEN_BUILTINS = ("open", "exec", "eval", "compile", "input", "__import__")
#: Text the console's validator forbids in the code (numpy's file I/O among it).
FORBIDDEN_TEXT = ("__import__", "load", "fromfile", "genfromtxt", "loadtxt", "tofile", "savez",
                  "save", "savetxt", "memmap")  # fmt: skip
#: The console's size limit [characters].
MAX_CHARACTERS = 140_000

ERROR = "error"  # racer fails on it
CONSOLE = "console"  # racer runs it; the DeepRacer console would reject it


@dataclass(frozen=True)
class Finding:
    """One problem in a reward file.

    Attributes:
        severity: ``error`` (racer would fail) or ``console`` (only the console would reject it).
        line: 1-based line number, or 0 for the whole file.
        message: what is wrong and what to do.
    """

    severity: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        label = "error" if self.severity == ERROR else "console would reject"
        return f"[{label}] {where}{self.message}"


def check_source(path: str | Path) -> list[Finding]:
    """Every static finding for a reward file, errors first, then by line.

    Args:
        path: the reward file.

    Returns:
        The findings; empty for a clean file. A file that cannot be read or parsed gives one
        error finding (nothing else can be checked).
    """
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [Finding(ERROR, 0, f"cannot read {path}: {exc}")]
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        return [Finding(ERROR, exc.lineno or 0, f"syntax error: {exc.msg}")]
    findings: list[Finding] = []
    if len(source) > MAX_CHARACTERS:
        findings.append(Finding(CONSOLE, 0, f"the file has {len(source):,} characters; the "
                                f"console accepts at most {MAX_CHARACTERS:,}"))  # fmt: skip
    findings += _flake_findings(tree, path)
    findings += _import_findings(tree)
    findings += _forbidden_findings(tree, source)
    findings += _signature_findings(tree)
    return sorted(findings, key=lambda f: (f.severity != ERROR, f.line))


def forbidden_findings(path: str | Path) -> list[Finding]:
    """The imports and builtin calls in a reward file that the console forbids, by line.

    What ``racer train`` warns about before it runs the file: modules beyond the five allowed
    (``os``, ``subprocess``, ``socket``...) and ``open``, ``exec``, ``eval`` and the like. A file
    that cannot be read or parsed has none (training reports that error itself).
    """
    try:
        source = Path(path).read_text(encoding="utf-8")
        tree = ast.parse(source, filename=str(path))
    except (OSError, UnicodeDecodeError, SyntaxError):
        return []
    imports = [f for f in _import_findings(tree) if f.severity == CONSOLE]
    return sorted(imports + _forbidden_calls(tree), key=lambda f: f.line)


def _flake_findings(tree: ast.Module, path: Path) -> list[Finding]:
    out = []
    for message in Checker(tree, filename=str(path)).messages:
        text = message.message % message.message_args
        if isinstance(message, flake_messages.UndefinedName):
            out.append(Finding(ERROR, message.lineno, f"{text}: a call that reaches it raises "
                               "NameError; define it or fix the spelling"))  # fmt: skip
        else:
            out.append(Finding(CONSOLE, message.lineno, f"{text} (flake8 F-check)"))
    return out


def _import_findings(tree: ast.Module) -> list[Finding]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if importlib.util.find_spec(top) is None:
                out.append(Finding(ERROR, node.lineno, f"module {top!r} is not installed"))
            if top not in ALLOWED_IMPORTS:
                out.append(Finding(CONSOLE, node.lineno, f"imports {name!r}; the console allows "
                                   f"only {', '.join(ALLOWED_IMPORTS)}"))  # fmt: skip
    return out


def _forbidden_calls(tree: ast.Module) -> list[Finding]:
    out = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in FORBIDDEN_BUILTINS):  # fmt: skip
            out.append(Finding(CONSOLE, node.lineno, f"calls {node.func.id}(), which the "
                               "console forbids"))  # fmt: skip
    return out


def _forbidden_findings(tree: ast.Module, source: str) -> list[Finding]:
    out = _forbidden_calls(tree)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return out
    for token in tokens:
        if token.type != tokenize.NAME:
            continue
        hits = [text for text in FORBIDDEN_TEXT if text in token.string]
        if hits:
            out.append(Finding(CONSOLE, token.start[0], f"the name {token.string!r} contains "
                               f"{hits[0]!r}, text the console's validator forbids"))  # fmt: skip
    return out


def _signature_findings(tree: ast.Module) -> list[Finding]:
    functions = [node for node in tree.body
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and node.name == "reward_function"]  # fmt: skip
    if not functions:
        return [Finding(ERROR, 0, "no top-level function named reward_function; DeepRacer calls "
                        "reward_function(params)")]  # fmt: skip
    fn = functions[-1]
    args = fn.args
    positional = args.posonlyargs + args.args
    required = len(positional) - len(args.defaults)
    takes_one = (required <= 1 <= len(positional) or args.vararg is not None) and not any(
        default is None for default in args.kw_defaults
    )
    if isinstance(fn, ast.AsyncFunctionDef):
        return [Finding(ERROR, fn.lineno, "reward_function is async; it must be a plain def")]
    if not takes_one or required > 1:
        return [Finding(ERROR, fn.lineno, "reward_function must take exactly one parameter "
                        "(params)")]  # fmt: skip
    if len(positional) != 1 or args.vararg or args.kwarg or args.kwonlyargs:
        return [Finding(CONSOLE, fn.lineno, "the console requires exactly one parameter and no "
                        "others, even optional ones")]  # fmt: skip
    return []
