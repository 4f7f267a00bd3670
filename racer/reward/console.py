"""The checks the DeepRacer console runs on a reward function before training (SPEC 1.1).

These are static: they read the source and never run it. Each `Finding` says whether racer itself
would fail on it (``error``) or only the DeepRacer console would reject the file (``console``):
racer runs any importable Python, the console allows five modules and no file access.

The console's validator (DeepRacer on AWS, ``reward_func_validator/test_reward_function.py``,
flake8 7.3.0) runs ``flake8 --select=E,F --ignore=E5,E226,E261`` and rejects the file on any
output. racer runs the same two checkers flake8 does, in memory: pyflakes for the F class and
pycodestyle for the E class (indentation, whitespace, blank lines, statements such as E711
``== None``, E722 bare ``except:``, E731 lambda assignment, E741 ambiguous names), minus line
length (E5), E226 (``1+2``) and E261 (one space before ``# comment``). Because the ignore list is
explicit, flake8's default extend-ignore (E121, E123, E126, E24, E704) does not apply: those count.
flake8's ``# noqa`` comments are honoured for the E class as flake8 does.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pycodestyle
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
#: The pycodestyle codes the console's flake8 reports (``--select=E,F``) and those it ignores
#: (``--ignore=E5,E226,E261``): flake8 lets the longer (more specific) prefix decide.
STYLE_SELECT = ("E",)
STYLE_IGNORE = ("E5", "E226", "E261")

# flake8 7.3's noqa comments (flake8/defaults.py, see _noqa_ignores): one on a line, bare or
# with codes, and the file-wide one alone on a line.
_NOQA_INLINE = re.compile(r"# noqa(?::[\s]?(?P<codes>([A-Z]+[0-9]+(?:[,\s]+)?)+))?", re.I)
_NOQA_FILE = re.compile(r"\s*# flake8[:=]\s*noqa", re.I)

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
    findings += _style_findings(source)
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


def _style_findings(source: str) -> list[Finding]:
    """The console's E-class findings (pycodestyle's), as flake8 reports them (module docstring).

    pycodestyle runs on the lines in memory and reports to a collecting report, so it prints
    nothing and reads no file; every finding is ``console`` (racer runs the file).
    """
    lines = io.StringIO(source).readlines()  # split at "\n" only, as flake8 reads the file
    if any(_NOQA_FILE.match(line) for line in lines):
        return []
    report = _StyleReport(_style_options())
    _StyleChecker(lines=list(lines), options=_style_options(), report=report).check_all()
    noqa_lines = _noqa_lines(source, lines)
    out = []
    for line, text in report.found:
        physical = lines[line - 1] if 0 < line <= len(lines) else ""
        if not _noqa_ignores(text[:4], noqa_lines.get(line, physical)):
            out.append(Finding(CONSOLE, line, f"{text} (flake8 E-check)"))
    return out


@functools.cache
def _style_options():
    # Every option the checks read, so that a user's ~/.config/pycodestyle (which StyleGuide
    # reads) changes nothing; the values are flake8's defaults.
    return pycodestyle.StyleGuide(select=STYLE_SELECT, ignore=(), max_line_length=79,
                                  max_doc_length=None, hang_closing=False, indent_size=4,
                                  verbose=0, quiet=1).options  # fmt: skip


class _StyleReport(pycodestyle.BaseReport):
    """Collects (line, "Ennn text") for the codes flake8 would report, printing nothing."""

    def __init__(self, options) -> None:
        super().__init__(options)
        self.found: list[tuple[int, str]] = []

    def error(self, line_number, offset, text, check):
        code = text[:4]
        if code.startswith(STYLE_SELECT) and not code.startswith(STYLE_IGNORE):
            self.found.append((line_number, text))
        return code


class _StyleChecker(pycodestyle.Checker):
    """pycodestyle's checker made to report what flake8 reports with the same checks.

    pycodestyle skips a few checks (E711, E712, E721, E722, E12x) on any line with a ``# noqa``,
    whatever codes it names; flake8 passes ``noqa=False`` to every check and then applies its own
    rule (`_noqa_ignores`). And after an E101 (tabs and spaces mixed) pycodestyle takes that
    line's indent character as the file's, where flake8 keeps the first one and so reports E101
    on every line indented the other way.
    """

    noqa = property(lambda self: False, lambda self, value: None)

    def check_physical(self, line):
        indent_char = self.indent_char
        super().check_physical(line)
        self.indent_char = indent_char


def _noqa_lines(source: str, lines: list[str]) -> dict[int, str]:
    """The text flake8 searches for a ``# noqa`` comment, per line number.

    All the physical lines of the tokens up to each NL or NEWLINE token, so that a comment after a
    multi-line string covers every line of it (flake8's ``FileProcessor._noqa_line_mapping``).
    """
    out: dict[int, str] = {}
    first, last = len(lines) + 2, -1
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in (tokenize.ENDMARKER, tokenize.DEDENT):
                continue
            first, last = min(first, token.start[0]), max(last, token.end[0])
            if token.type in (tokenize.NL, tokenize.NEWLINE):
                out.update(dict.fromkeys(range(first, last + 1), "".join(lines[first - 1 : last])))
                first, last = len(lines) + 2, -1
    except (tokenize.TokenError, SyntaxError):
        return {}
    return out


def _noqa_ignores(code: str, line: str) -> bool:
    """Whether flake8 drops `code` on account of a noqa comment in `line`.

    A bare ``# noqa`` drops every code; ``# noqa: E711,E7`` drops the codes it names and those
    they are a prefix of. The file-wide ``# flake8: noqa``, alone on a line, drops the lot.
    """
    match = _NOQA_INLINE.search(line)
    if match is None:
        return False
    if match["codes"] is None:
        return True
    codes = {item.strip() for item in re.split(r"[,\s]", match["codes"]) if item.strip()}
    return code in codes or code.startswith(tuple(codes))


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
