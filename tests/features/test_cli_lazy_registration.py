"""The root CLI imports a command module only when one of its commands is called (start-up time
of a daily `tradewind features build`), without changing any command: the lazily built commands
have the same names, options and help as an eager build of every module."""

from __future__ import annotations

import importlib
import subprocess
import sys

import typer
from typer.testing import CliRunner

from tradewind import cli


def _eager_app() -> typer.Typer:
    """Every command module registered up front, as the CLI did before lazy loading."""
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    for module in cli.COMMAND_MODULES:
        importlib.import_module(module).register(app)
    return app


def _help(app, args: list[str]) -> str:
    res = CliRunner().invoke(app, [*args, "--help"], prog_name="tradewind", terminal_width=100)
    assert res.exit_code == 0, res.output
    return res.output


def test_the_table_names_exactly_what_each_module_registers():
    eager = typer.main.get_command(_eager_app())
    registered = {name: cmd for name, cmd in eager.commands.items()}
    listed = [name for names in cli.COMMAND_MODULES.values() for name in names]
    assert sorted(listed) == sorted(registered)
    for module, names in cli.COMMAND_MODULES.items():
        assert set(cli.module_commands(module)) == set(names), module


def test_every_command_has_the_help_and_options_of_an_eager_build():
    eager = _eager_app()
    group = typer.main.get_command(eager)
    for name, cmd in group.commands.items():
        assert _help(cli.app, [name]) == _help(eager, [name]), name
        for sub in getattr(cmd, "commands", {}):
            assert _help(cli.app, [name, sub]) == _help(eager, [name, sub]), (name, sub)


def test_a_command_imports_only_its_own_module():
    probe = (
        "import sys\n"
        "from tradewind.cli import app\n"
        "try:\n"
        "    app(['features', 'build', '--help'], prog_name='tradewind')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('pandas', 'gymnasium', 'ray', 'tradewind.ingest.cli',\n"
        "         'tradewind.registry.cli', 'tradewind.training.cli') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "Run `dbt build`" in out.stdout
    assert "HEAVY []" in out.stdout, out.stdout[-400:]
