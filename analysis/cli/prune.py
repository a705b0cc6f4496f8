"""``mlprov prune``: compare policies that skip training runs unlikely to push."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import click

from mlprov.analysis.cli.common import (
    Share,
    db_option,
    format_option,
    handle_errors,
    liveness,
    liveness_options,
    render,
)
from mlprov.analysis.cli.graphlets import current_store, no_refresh_option


class PolicyChoice(click.Choice):
    """``all`` or a policy of :data:`mlprov.analysis.pruning.POLICIES`, looked up when first needed:
    importing the simulation with this module would slow every ``mlprov --help`` by a second."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from mlprov.analysis.pruning import POLICIES

        return ("all", *POLICIES)

    @choices.setter
    def choices(self, given: tuple[str, ...]) -> None:
        """click's own constructor sets the choices it was given (none): ignored."""


@click.command()
@db_option
@click.option(
    "--policy",
    "policy",
    type=PolicyChoice(),
    default="all",
    show_default=True,
    help="Which policy to simulate (random matches the learned "
    "policy's skip rate, or the oracle's without it).",
)
@click.option(
    "--train-until",
    "train_until",
    help="Start of the test period, YYYY-MM-DD[THH:MM] UTC; the learned policy "
    "trains on outcomes known before it [default: when 60% of decisions were "
    "taken].",
)
@click.option(
    "--threshold",
    type=Share(),
    help="Learned policy: skip when P(no push) exceeds this [default: the lowest "
    "keeping 99% of pushes on the last quarter of the training period].",
)
@click.option(
    "--k",
    "k",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="k-nonpush: skip after this many consecutive non-pushes.",
)
@click.option(
    "--model",
    type=click.Choice(["hgb", "logistic"]),
    default="hgb",
    show_default=True,
    help="Learned policy's classifier.",
)
@click.option(
    "--retrain",
    type=click.Choice(["once", "monthly"]),
    default="once",
    show_default=True,
    help="Train once at --train-until, or again every 30 days.",
)
@click.option(
    "--sweep",
    is_flag=True,
    help="Print the learned policy's threshold sweep (the trade-off curve).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the classifier, random policy and permutation importance.",
)
@click.option("--unit", help="Cost unit [default: the cost property's, else seconds].")
@liveness_options
@format_option("table", "json", "csv")
@no_refresh_option
@handle_errors
def prune(
    db: str,
    policy: str,
    train_until: str | None,
    threshold: float | None,
    k: int,
    model: str,
    retrain: str,
    sweep: bool,
    seed: int,
    unit: str | None,
    as_of: datetime | None,
    stale_after: timedelta,
    fmt: str,
    no_refresh: bool,
) -> None:
    """Simulate skipping training runs that will not push, on the graphlets in the database.

    Each graphlet's trainer is a decision point: skipping it saves the trainer and everything
    downstream. Policies are scored on the test period against what happened: share of
    avoidable wasted compute saved, pushes kept, and deployment cadence. The simulation
    treats the recorded history as fixed.
    """
    from mlprov.analysis.pruning import PruningConfig, simulate_pruning

    config = PruningConfig(
        policies=policy,
        train_until=train_until,
        threshold=threshold,
        k=k,
        seed=seed,
        model=model,  # type: ignore[arg-type]
        retrain=retrain,  # type: ignore[arg-type]
    )
    with current_store(db, no_refresh) as store:
        result = simulate_pruning(store, config, unit=unit, liveness=liveness(as_of, stale_after))
    shown = result.sweep if sweep else result.table
    if fmt == "csv":
        render(shown, "csv")
        return
    if fmt == "json":
        from mlprov.analysis.report.formatting import json_ready

        payload: dict[str, Any] = {
            "train_until": result.train_until.isoformat(),
            "cost_unit": result.cost_unit,
            "n_train": result.n_train,
            "n_test": result.n_test,
            "test_pushes": result.test_pushes,
            "test_nonpushes": result.test_nonpushes,
            "threshold": result.threshold,
            "auc": result.auc,
            "headline": None if result.headline is None else vars(result.headline),
            "policies": result.table.to_dict("records"),
            "matched": result.matched.to_dict("records"),
            "importance": result.importance.to_dict("records"),
            "limit": result.limit,
        }
        if sweep:
            payload["sweep"] = result.sweep.to_dict("records")
        click.echo(json.dumps(json_ready(payload), indent=2, default=str))
        return
    from mlprov.analysis.pruning import when
    from mlprov.analysis.pruning_report import comparison_table, headline_text

    where = f"test period from {when(result.train_until)} UTC, {result.n_test:,} graphlets"
    if sweep:
        render(
            shown[
                [
                    "threshold",
                    "skip_rate",
                    "wasted_saved",
                    "total_saved",
                    "pushes_kept",
                    "random_wasted_saved",
                ]
            ],
            "table",
            title=f"threshold sweep: {where}",
        )
    else:
        # two narrower tables read better in a terminal than one wide one
        table = comparison_table(result)
        render(table.iloc[:, :5], "table", title=f"compute saved ({result.cost_unit}): {where}")
        render(table.iloc[:, [0, *range(5, table.shape[1])]], "table", title="deployment cadence")
    if result.threshold is not None:
        click.echo(headline_text(result))
    if not result.importance.empty:
        render(result.importance, "table", title="what drives non-pushes (feature families)")
    click.echo(f"limit: {result.limit}")
