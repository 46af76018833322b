"""``./dev.sh demo``: encode the bundled sample export end to end through the real CLI.

A fresh demo secret is generated into a work folder (never taken from the repo), the
sample export and its agency.toml are copied beside it, ``agency-client encode`` runs,
and ``agency-client schema describe`` summarises the result. The lead will replace
this with the full multi-agency demo.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import click

__all__ = ["main", "run_demo"]


def run_demo(work_dir: Path) -> int:
    """Run the demo in ``work_dir``; returns the CLI's exit code."""
    from agency_client._samples import SAMPLE_CONFIG, SAMPLE_EXPORT, sample_path
    from agency_client.cli import cli

    work_dir.mkdir(parents=True, exist_ok=True)
    for name in (SAMPLE_CONFIG, SAMPLE_EXPORT):
        shutil.copyfile(sample_path(name), work_dir / name)
    secret_file = work_dir / "linkage-secret.key"
    secret_file.write_text(secrets.token_hex(32) + "\n", encoding="ascii")
    secret_file.chmod(0o600)
    output = work_dir / "valley-mhc.clk"
    click.echo(f"== demo work folder: {work_dir} (fresh demo secret in {secret_file.name})")
    click.echo(f"== agency-client encode --config {SAMPLE_CONFIG} {SAMPLE_EXPORT} -o {output.name}")
    steps = [
        [
            "encode",
            "--config",
            str(work_dir / SAMPLE_CONFIG),
            str(work_dir / SAMPLE_EXPORT),
            "-o",
            str(output),
        ],
        ["schema", "describe", str(output)],
    ]
    for step in steps:
        if step[0] == "schema":
            click.echo(f"== agency-client schema describe {output.name}")
        try:
            cli.main(args=step, prog_name="agency-client", standalone_mode=False)
        except SystemExit as exc:  # LinkageGroup exits 2 on domain errors
            code = exc.code if isinstance(exc.code, int) else 1
            if code:
                return code
        except click.exceptions.Exit as exc:
            if exc.exit_code:
                return exc.exit_code
    click.echo("== done: the CLK file holds row numbers, local record keys and CLKs, no PII")
    return 0


@click.command()
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the demo files here (default: a temporary folder, removed afterwards).",
)
def main(work_dir: Path | None) -> None:
    """Encode the bundled sample export with a freshly generated demo secret."""
    if work_dir is not None:
        sys.exit(run_demo(work_dir))
    with tempfile.TemporaryDirectory(prefix="linkage-demo-") as tmp:
        sys.exit(run_demo(Path(tmp)))


if __name__ == "__main__":
    main()
