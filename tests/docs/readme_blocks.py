"""The README's command blocks, extracted so tests can run them (the README cannot drift).

A command block is a fenced ```bash block. Each is either executed by the tests, line by line,
or preceded (on the line just before the fence) by a visible marker saying why not:

    *Not run by the README tests: <reason>.*
    *Run by the demo test (tests/demo/test_demo.py).*

Fences of other languages (sql, python, yaml, text) are examples, not commands: the SQL ones
are executed separately against the demo's warehouse.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
SKIP = re.compile(r"^\*Not run by the README tests: (?P<reason>.{8,})\.\*\s*$")
DEMO = re.compile(r"^\*Run by the demo test \(tests/demo/test_demo\.py\)\.\*\s*$")
FENCE = re.compile(r"^```(?P<lang>[A-Za-z]*)\s*$")


@dataclass
class Block:
    lang: str
    line: int  # 1-based line of the opening fence
    text: str
    marker: str | None  # "skip: reason", "demo" or None (executed)

    def commands(self) -> list[str]:
        """Shell lines without comments; a trailing backslash joins the next line."""
        out: list[str] = []
        buf = ""
        for raw in self.text.splitlines():
            line = raw.rstrip()
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            line = buf + line
            buf = ""
            cmd = _strip_comment(line)
            if cmd:
                out.append(cmd)
        return out


def _strip_comment(line: str) -> str:
    """The line up to an unquoted ``#`` that starts a word."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].strip()
    return line.strip()


def blocks(text: str | None = None) -> list[Block]:
    lines = (text if text is not None else README.read_text()).splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group("lang")
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        marker = None
        if (s := SKIP.match(prev)) is not None:
            marker = f"skip: {s.group('reason')}"
        elif DEMO.match(prev):
            marker = "demo"
        out.append(Block(lang, start + 1, "\n".join(lines[start + 1 : j]), marker))
        i = j + 1
    return out


def command_blocks() -> list[Block]:
    return [b for b in blocks() if b.lang in ("bash", "sh", "shell", "console")]


def run_blocks(cwd: Path, env: dict[str, str], timeout: float = 900) -> list[tuple[int, str]]:
    """Run every executed command block in ``cwd``; returns (line, command) of each run.

    A failing command raises AssertionError naming the README line and the output's tail."""
    ran: list[tuple[int, str]] = []
    venv_bin = str(Path(env.get("VIRTUAL_ENV", "")) / "bin")
    env = {**env, "PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"}
    for b in command_blocks():
        if b.marker is not None:
            continue
        for cmd in b.commands():
            proc = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", cmd],
                cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
            )  # fmt: skip
            assert proc.returncode == 0, (
                f"README.md:{b.line}: `{cmd}` exited {proc.returncode}\n"
                f"{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
            )
            ran.append((b.line, cmd))
    return ran
