"""``glacierinv config``: print the commented default configuration, validate a config."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the ``config`` group."""
    group = typer.Typer(help="Run configuration helpers.", no_args_is_help=True)

    @group.command("template")
    def template() -> None:
        """Print the commented default configuration.

        $ glacierinv config template > run.toml
        """
        from glacierinv.preprocess.sensors import config_template

        typer.echo(config_template(), nl=False)

    @group.command("check")
    def check(config: Path = typer.Argument(..., help="TOML run configuration.")) -> None:
        """Validate a configuration and its inputs: exactly the preflight that `glacierinv run` runs.

        $ glacierinv config check run.toml
        """
        from glacierinv.config import load_config
        from glacierinv.pipeline import check_run

        cfg = load_config(config)
        check_run(cfg)
        typer.echo(f"{config}: OK")

    app.add_typer(group, name="config")
