"""``mlprov synth``: write a TFX-shaped MLMD store to try mlprov on."""

from __future__ import annotations

import click

from mlprov.analysis.cli.common import handle_errors, progress_bar


@click.command()
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="The MLMD SQLite file to write (its ground truth goes beside it).",
)
@click.option(
    "--preset",
    type=click.Choice(["sample", "paper"]),
    help="sample: ~20 pipelines over 60 days; paper: the study's scale, 3,000 "
    "pipelines over 120 days (~450,000 trained models).",
)
@click.option("--pipelines", type=click.IntRange(min=1), help="Number of pipelines.")
@click.option("--days", type=click.IntRange(min=1), help="Days of history.")
@click.option("--seed", type=int, help="Random seed: the same seed writes the same store.")
@click.option(
    "--writer",
    type=click.Choice(["auto", "client", "bulk"]),
    default="auto",
    show_default=True,
    help="client: through ml-metadata; bulk: column-wise SQL, for large stores.",
)
@click.option(
    "--payloads",
    type=click.Path(file_okay=False),
    help="Also write the statistics, schema and anomalies files under this directory.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@handle_errors
def synth(
    out: str,
    preset: str | None,
    pipelines: int | None,
    days: int | None,
    seed: int | None,
    writer: str,
    payloads: str | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Generate a genuine, TFX-shaped MLMD store with a known ground truth.

    Pipelines ingest a span per period, train on rolling windows, and push only models that
    beat their baseline, so about a third of trained models are never deployed.
    """
    from dataclasses import replace

    from mlprov.sample.synth.generator import PRESETS, SynthConfig, generate

    config = PRESETS[preset] if preset else SynthConfig()
    overrides = {
        k: v for k, v in (("pipelines", pipelines), ("days", days), ("seed", seed)) if v is not None
    }
    config = replace(config, **overrides)  # type: ignore[arg-type]
    with progress_bar("generating", quiet) as progress:
        try:
            result = generate(
                config,
                out,
                writer=writer,  # type: ignore[arg-type]
                overwrite=overwrite,
                progress=progress,
                payloads=payloads,
                workers=None,  # one simulating process per CPU for large stores
            )
        except FileExistsError as err:
            raise click.UsageError(str(err)) from err
    click.echo(
        f"wrote {result.path} ({result.writer} writer, {result.seconds:.1f} s): "
        f"{result.pipelines} pipelines, {result.trainers:,} trained models, "
        f"{result.unpushed_share:.1%} not pushed; ground truth in {result.truth_path}"
    )
    if result.payloads is not None:
        click.echo(
            f"wrote {result.payloads.files:,} payload files under {result.payloads.root}; "
            f"read them with: mlprov ingest {result.path} "
            f"--payload-prefix {config.pipeline_root}={result.payloads.root}"
        )
