"""Renamed CLI options keep working: the old spelling is a hidden alias that warns once on stderr.

One vocabulary across commands (`--model` a CLIP model, `--generator` a generator directory, `--overwrite`,
`--removal-db`) must not break the scripts users wrote against the old names. A command declared with
`cls=renamed({"--old": "--new"})` rewrites the old option name to the new one before click parses the
arguments, so the help shows only the new name and the old one behaves exactly as before.
"""

from __future__ import annotations

from typing import Any, Mapping

import typer
from typer.core import TyperCommand

# click objects are typed loosely (Any): recent typer releases vendor their own copy of click.


def _command_path(ctx: Any) -> str:
    """`audit group command`, whatever the program was started as (tests run `main()` under pytest)."""
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(["audit", *reversed(names)])


def _option_names(command: TyperCommand, *, values_only: bool = False) -> set[str]:
    """The command's option names (only those taking a value: a value that reads like an old name is left alone)."""
    return {name for p in command.params if p.param_type_name == "option"
            and not (values_only and (getattr(p, "is_flag", False) or getattr(p, "count", False)))
            for name in (*p.opts, *p.secondary_opts)}


def rewrite_args(args: list[str], renames: Mapping[str, str], value_options: set[str]) -> tuple[list[str], list[str]]:
    """`args` with every old option name (as `--old V` or `--old=V`) replaced by its new one, and the old names seen."""
    out: list[str] = []
    seen: list[str] = []
    takes_value = False
    for i, arg in enumerate(args):
        if takes_value:  # the value of the option before, even if it reads like an option
            out.append(arg)
            takes_value = False
            continue
        if arg == "--":  # everything after is positional
            out.extend(args[i:])
            break
        name, eq, value = arg.partition("=")
        if name in renames:
            if name not in seen:
                seen.append(name)
            name = renames[name]
            arg = name + eq + value
        out.append(arg)
        takes_value = name in value_options and not eq
    return out, seen


def renamed(renames: Mapping[str, str]) -> type[TyperCommand]:
    """A command class accepting each old option name in `renames` (old -> new) as a deprecated alias of the new one.

    Only renames whose new name the command has apply, so one table can serve a whole group of commands.
    """
    renames = dict(renames)

    class RenamedOptionsCommand(TyperCommand):
        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            options = _option_names(self)
            mapping = {old: new for old, new in renames.items() if new in options and old not in options}
            args, seen = rewrite_args(args, mapping, _option_names(self, values_only=True))
            for old in seen:
                typer.echo(f"warning: {old} is deprecated in `{_command_path(ctx)}`; use {mapping[old]}", err=True)
            return super().parse_args(ctx, args)

    return RenamedOptionsCommand
