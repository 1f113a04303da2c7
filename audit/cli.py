"""The `audit` command: a thin Typer app; each command calls into a module that does the work.

Subcommand groups live beside the code they drive (`audit/<pkg>/cli.py`) and are registered here.
Every AuditError becomes one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from audit.errors import AuditError

app = typer.Typer(
    name="audit",
    help="genaudit: provenance and auditing for text-to-image models and their training sets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

#: (name, module holding an `app: typer.Typer`, help) — imported at start-up; they keep heavy imports lazy.
#: A one-word name is a group; "group command" adds the module's command(s) to that group (a command that
#: lives in its own package, like `audit dataset card` in audit/card).
GROUPS: list[tuple[str, str, str]] = [
    ("dataset", "audit.dataset.cli", "Build, ingest and describe training sets."),
    ("dataset card", "audit.card.cli", "Write a self-contained dataset card (HTML + JSON): counts, licences, authors, "
                                       "duplicates, opt-outs, concepts."),
    ("embed", "audit.embed.cli", "CLIP embeddings: train the tiny in-project CLIP, evaluate retrieval."),
    ("index", "audit.index.cli", "Build and inspect search indices."),
    ("optout", "audit.optout.cli", "Opt-out registry, signal parsers, manifest check/filter, offline lookup."),
    ("provenance", "audit.provenance.cli", "C2PA Content Credentials: test CA, stamp generated images, verify."),
    ("generate", "audit.generate.cli", "Train and sample the tiny reference text-to-image generator."),
    ("memorisation", "audit.memorisation.cli", "Find generated images that copy training images; review verdicts."),
    ("scale", "audit.scale.cli", "Run the same audits on Spark over sharded parquet."),
    ("removal", "audit.removal.cli", "GDPR requests: confirm, erase everywhere, prove it."),
    ("experiments", "audit.experiments.cli", "Controlled experiments on the reference generator."),
    ("workspace", "audit.workspace_cli", "The workspace file the review app opens: init, show."),
]
#: Modules that add top-level commands to `app` (e.g. `audit search`, `audit demo`).
TOP_LEVEL: list[str] = ["audit.index.search_cli", "audit.demo_cli", "audit.app_cli"]


def _register() -> None:
    groups: dict[str, typer.Typer] = {}
    for name, module, help_text in GROUPS:
        sub: typer.Typer = importlib.import_module(module).app
        parent, _, _ = name.rpartition(" ")
        if parent:
            for info in sub.registered_commands:
                info.help = info.help or help_text
            groups[parent].registered_commands.extend(sub.registered_commands)
        else:
            groups[name] = sub
            app.add_typer(sub, name=name, help=help_text)
    for module in TOP_LEVEL:
        importlib.import_module(module).register(app)


_register()


def _click_exception_types() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...],
                                      tuple[type[BaseException], ...]]:
    """(ClickException, Exit, Abort) classes of every click the installed typer may raise.

    typer >= 0.2x raises its vendored copy's exceptions (`typer._click`), older typer those of the
    separate `click` package; catching only one of them turned usage errors into tracebacks.
    """
    import importlib

    usage: list[type[BaseException]] = []
    exits: list[type[BaseException]] = []
    aborts: list[type[BaseException]] = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        for found, attr in ((usage, "ClickException"), (exits, "Exit"), (aborts, "Abort")):
            if isinstance(getattr(mod, attr, None), type):
                found.append(getattr(mod, attr))
    exits.append(typer.Exit)  # typer's own classes (separate from click's since the vendored copy)
    aborts.append(typer.Abort)
    return tuple(usage), tuple(exits), tuple(aborts)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: usage errors and AuditErrors become one line (exit 2), never a traceback."""
    usage_errors, exits, aborts = _click_exception_types()
    try:
        rc = app(args=argv, standalone_mode=False)
    except AuditError as exc:
        typer.secho(f"error: {exc.message}", err=True, fg="red")
        if exc.hint:
            typer.secho(f"  hint: {exc.hint}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.secho("interrupted; nothing half-written was left in place", err=True)
        return 130
    except usage_errors as exc:  # usage errors: click's one-line message + usage, exit 2
        exc.show()  # type: ignore[attr-defined]  # ClickException.show, found at run time
        return int(getattr(exc, "exit_code", 2))
    except exits as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except aborts:
        typer.secho("aborted", err=True)
        return 1
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
