"""Reading a documentation page's code blocks as instructions, and carrying them out in a folder.

A block's info string names its language, then what to do with it (``docs/integration.md`` explains
the words in a comment at its top):

- ``title="path" create|replace|append``: write the block to that file, relative to the current folder;
  ``create`` refuses a file that exists, ``replace`` and ``append`` one that does not;
- ``run``: shell commands run to their end with ``bash -euo pipefail`` (a ``cd`` carries over to the
  next block);
- ``background``: one long-running command a line, started by the caller;
- ``stdin="command"``: the block is fed to that command's standard input;
- ``not-executed``: left alone (a python block is still compiled).

A block with none of these is an error: every block of the page is either run or says why not.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

FILE_MODES = ("create", "replace", "append")
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^`\n]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)


class GuideError(AssertionError):
    """A block that cannot be carried out: the page is wrong (or the app is)."""


@dataclass
class Block:
    language: str
    line: int
    text: str
    flags: set[str] = field(default_factory=set)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def action(self) -> str:
        if "not-executed" in self.flags:
            return "not-executed"
        if "title" in self.options:
            modes = [mode for mode in FILE_MODES if mode in self.flags]
            if len(modes) != 1:
                raise GuideError(f"line {self.line}: a file block needs one of {', '.join(FILE_MODES)}")
            return modes[0]
        if "stdin" in self.options:
            return "stdin"
        for action in ("run", "background"):
            if action in self.flags:
                return action
        raise GuideError(
            f"line {self.line}: the {self.language or 'unnamed'} block says neither what to do with it "
            "(title=... create|replace|append, run, background, stdin=...) nor not-executed"
        )

    def where(self) -> str:
        return f"the {self.language} block at line {self.line}"


def blocks(markdown: str) -> list[Block]:
    """Every fenced block of the page, in order, with its instructions."""
    found = []
    for match in _FENCE.finditer(markdown):
        words = shlex.split(match["info"].strip())
        language, rest = (words[0], words[1:]) if words else ("", [])
        block = Block(
            language=language,
            line=markdown.count("\n", 0, match.start()) + 1,
            text=textwrap.dedent(match["body"]),
        )
        for word in rest:
            if "=" in word:
                key, value = word.split("=", 1)
                block.options[key] = value
            else:
                block.flags.add(word)
        found.append(block)
    return found


def compile_python(block: Block) -> None:
    if block.language != "python":
        return
    try:
        compile(block.text, block.where(), "exec")
    except SyntaxError as exc:
        raise GuideError(f"{block.where()} does not compile: {exc}") from exc


def write_file(block: Block, folder: Path) -> Path:
    path = folder / block.options["title"]
    exists = path.exists()
    if block.action == "create" and exists:
        raise GuideError(f"{block.where()} creates {path.name}, which already exists")
    if block.action in ("replace", "append") and not exists:
        raise GuideError(f"{block.where()} changes {block.options['title']}, which does not exist")
    path.parent.mkdir(parents=True, exist_ok=True)
    if block.action == "append":
        before = path.read_text()
        path.write_text(before + ("" if before.endswith("\n") else "\n") + "\n" + block.text)
    else:
        path.write_text(block.text)
    return path


def _run(
    command: list[str], folder: Path, env: Mapping[str, str], log: Path, stdin: bytes | None = None
) -> int:
    with log.open("ab") as out:
        return subprocess.run(
            command, input=stdin, cwd=folder, env=dict(env), stdout=out, stderr=subprocess.STDOUT, timeout=300
        ).returncode


def run_shell(block: Block, folder: Path, env: Mapping[str, str], log: Path) -> Path:
    """Run a ``run`` block in ``folder``; the folder it ends in."""
    where_file = log.with_suffix(".cwd")
    script = f"set -euo pipefail\n{block.text}\npwd > {shlex.quote(str(where_file))}\n"
    returncode = _run(["bash", "-c", script], folder, env, log)
    if returncode != 0:
        raise GuideError(f"{block.where()} failed ({returncode}):\n{tail(log)}")
    return Path(where_file.read_text().strip())


def feed_stdin(block: Block, folder: Path, env: Mapping[str, str], log: Path) -> None:
    command = block.options["stdin"]
    if _run(shlex.split(command), folder, env, log, stdin=block.text.encode()) != 0:
        raise GuideError(f"{block.where()} failed in `{command}`:\n{tail(log)}")


def commands(block: Block) -> list[str]:
    """The command lines of a ``background`` block (comments and blank lines left out)."""
    lines = [line.strip() for line in block.text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return "(no output)"


class Page(HTMLParser):
    """The parts of a rendered page the widget works with: its forms, asset links and players."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []
        self.assets: list[str] = []
        self.players: list[dict[str, str]] = []
        self.marked: set[str] = set()
        self._form: dict[str, object] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.marked.update(name for name in values if name.startswith("data-noojee"))
        if tag == "form":
            self._form = {"attrs": values, "fields": {}, "checkboxes": {}}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and values.get("name"):
            kind = "checkboxes" if values.get("type") == "checkbox" else "fields"
            self._form[kind][values["name"]] = values.get("value", "")  # type: ignore[index]
        elif tag == "link" and values.get("rel") == "stylesheet":
            self.assets.append(values["href"])
        elif tag == "script" and values.get("src"):
            self.assets.append(values["src"])
        elif tag == "audio":
            self.players.append(values)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None

    def form(self, widget: str) -> dict[str, object]:
        """The form the widget knows as ``data-noojee="<widget>"``."""
        for form in self.forms:
            if form["attrs"].get("data-noojee") == widget:  # type: ignore[union-attr]
                return form
        raise GuideError(f'the page has no form data-noojee="{widget}"')
