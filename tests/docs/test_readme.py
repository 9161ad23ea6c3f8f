"""The README cannot drift: every command block is executed or says why not, and the
configuration table is the ``Settings`` class.

The executed blocks run in ``tests/demo/test_demo.py`` (after the demo, in its folder and
warehouse, so the commands see a trained, registered model, its weights and orders, without a
second demo run); these fast checks keep the markers and the table honest.
"""

from __future__ import annotations

import re

from pydantic import AliasChoices
from readme_blocks import README, blocks, command_blocks

from tradewind.settings import Settings


def test_every_command_block_is_run_or_says_why_not():
    found = command_blocks()
    assert len(found) >= 10
    for b in found:
        assert b.commands(), f"README.md:{b.line}: an empty command block"
        if b.marker and b.marker.startswith("skip: "):
            assert len(b.marker) > 20, f"README.md:{b.line}: a skip needs a reason"
    executed = [b for b in found if b.marker is None]
    assert sum(len(b.commands()) for b in executed) >= 15
    # make demo is covered by the demo test, make test is CI itself: nothing else is exempt.
    assert any(b.marker == "demo" and "make demo" in b.text for b in found)
    for b in executed:
        for c in b.commands():
            assert not c.startswith(("make ", "docker")), f"README.md:{b.line}: `{c}` runs here?"


def test_markers_are_visible_and_sit_right_above_their_block():
    text = README.read_text()
    for m in re.finditer(r"^\*(Not run by the README tests|Run by the demo test)", text, re.M):
        after = text[m.end() :].split("\n", 2)
        assert after[1].startswith("```bash"), f"marker not above a command block: {m.group(0)}"
    # HTML comments would hide a reason from readers: none are used as markers.
    assert "<!-- doc" not in text


def test_comments_are_stripped_but_quoted_hashes_kept():
    (b,) = blocks('```bash\nfoo --x "a # b"   # a comment\n# only a comment\nbar \\\n  --y\n```\n')
    assert b.commands() == ['foo --x "a # b"', "bar    --y"]


def _env_names(name: str, field) -> set[str]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return {c.upper() for c in alias.choices if isinstance(c, str)}
    return {f"TRADEWIND_{name.upper()}"}


def test_configuration_table_lists_every_settings_field_and_nothing_else():
    text = README.read_text()
    section = text[text.index("## Configuration reference") :]
    section = section[: section.index("\n## ", 1)]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    in_table = {v for line in rows for v in re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])}
    expected: set[str] = set()
    for name, field in Settings.model_fields.items():
        names = _env_names(name, field)
        assert names & in_table, f"Settings.{name} ({sorted(names)}) is missing from the README"
        expected |= names
    assert in_table <= expected, f"not settings: {sorted(in_table - expected)}"
    assert len(rows) == len(Settings.model_fields)
