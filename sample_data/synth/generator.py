"""Generate genuine MLMD SQLite stores shaped like TFX 1.x (IR-based) pipelines, with truth.

``generate(PRESETS["sample"], "store.sqlite")`` simulates ``pipelines`` TFX pipelines over
``days`` days from a fixed start date, writes what their runs would have put into MLMD (through
the ml-metadata client for small stores, column-wise SQL for large ones; both write the same
rows), and a ground-truth sidecar ``store.sqlite.truth.parquet`` with, per training execution,
whether its model was pushed and why not.

The column-wise writer simulates a chunk of pipelines at a time and spills it next to the store
(:mod:`mlprov.sample.synth.chunks`), so memory is bounded by the chunk, not the corpus; the ids,
and so the store, are those of one pass over the whole corpus, whatever the chunk size.

What the store holds (TFX conventions, see ``sample_data/synth/tfx.py``): execution types named
by component class path; artifact types Examples, ExampleStatistics, Schema, ExampleAnomalies,
TransformGraph, HyperParameters, Model, ModelRun, ModelEvaluation, ModelBlessing,
InfraBlessing, PushedModel; contexts ``pipeline``, ``pipeline_run`` and ``node``
(``<pipeline>.<node id>``), runs and nodes children of their pipeline; every input and output
artifact of an execution attributed to each of its contexts; events with path (key, index).

Distributions and parameters (constants in ``sample_data/synth/parameters.py``):

Pipelines
    - span period (ExampleGen cadence): choice over ``config.cadence_hours`` with
      ``config.cadence_weights`` (default 1 h/3 h/6 h/12 h/1 d/1 w with 0.05/0.08/0.15/0.2/
      0.37/0.15); a training run every k-th span, k uniform over (1, 1, 1, 1, 2, 3).
    - lifespan: with probability ``full_life_share`` (0.3) the whole window; else the pipeline
      starts uniformly in the window (or at its start, probability 0.3) and lives a lognormal
      number of days (median 20, log-sd 1.0), cut at the window end: heavy-tailed.
    - rolling window: w spans, w from (1, 2, 3, 5, 7, 10, 14) with weights
      (0.1, 0.15, 0.2, 0.2, 0.15, 0.1, 0.1), at least k.
    - optional components: Transform 0.75, Tuner 0.15 (re-tunes every 20 trainings and after
      each config change), InfraValidator 0.3, warm start (a Resolver re-emits the last model,
      the Trainer reads it as ``base_model``) 0.35, baseline (a Resolver re-emits the latest
      blessed model, the Evaluator reads it as ``baseline_model``) 0.85.
    - structure change: probability 0.3, at a uniform point in the middle 60% of the life, one
      of Transform / InfraValidator / warm start / Tuner is toggled.
    - config changes: Poisson, rate 1/21 per day: hyperparameters (``train_args``) 50%, trainer
      code (``module_path`` hash) 30%, transform code 15%, model type switch 5%.
    - model type: dnn 0.5, linear 0.3, boosted_trees 0.2 (Trainer custom properties
      ``model_type`` and ``custom_config``).
    - data size per span: lognormal (median 1, log-sd 0.6) x sqrt(period / 1 day).

Data and model quality
    - each span has two latent feature means: a Gaussian random walk with sd 0.05 per
      sqrt(day), plus, with probability 0.2 per span, a shock N(0, 0.5) per feature; stds
      follow a slower walk. ExampleStatistics carry them as custom properties
      ``feature_{0,1}_{mean,std}`` (plus sampling noise 1/sqrt(n)) and ``num_examples``.
    - a model trained on spans S has skill = base(type) (dnn 0.80, linear 0.76, boosted 0.78)
      + code effect (each config change: 0.5 x previous + N(-0.004, 0.008)) + structure
      penalty (-U(0.03, 0.08) x exp(-i/2) for the i-th training after a structure change) +
      0.002 if warm-started + N(0, sd by type 0.0015/0.0008/0.0012).
    - on the evaluation span x (the newest span), metric = skill - 0.1 x (|mean(S) - x| +
      2.5 x excess spread) + N(0, 0.002), where excess spread is the spans' spread around
      their mean beyond 0.6 x walk sd x sqrt(|S|) (so shocks inside the window hurt).
    - the Evaluator blesses iff metric >= baseline's metric on the same span + delta, delta
      uniform in (-0.008, -0.001) per pipeline, and metric >= base(type) - 0.2; without a baseline
      only the floor applies. InfraValidator rejects with probability 0.03. The Pusher always
      runs; PushedModel ``pushed`` = 1 iff blessed by both.

Failures, caching, timing, cost
    - each execution fails with a per-component probability (Trainer 3%, Tuner 2%, Transform
      1.5%, ExampleGen and Evaluator 1%, others 0-0.5%); a failed execution has inputs, no
      outputs; the run stops. With probability 0.6 (at most twice) the run is retried after a
      lognormal delay (median 45 min): nodes whose inputs and configuration are unchanged
      publish a CACHED execution with OUTPUT events to the earlier artifacts.
    - durations are lognormal (log-sd 0.35) with medians in minutes for a unit span: ExampleGen
      10, StatisticsGen 6, SchemaGen 0.5, ExampleValidator 1.5, Transform 4 x w^0.8, Tuner 60 x
      w^0.7, Trainer 20 x w^0.7, Evaluator 8, InfraValidator 5, Pusher 0.5 (x data size);
      Resolvers about a second; cached executions 2-10 s. ``cpu_hours`` = hours x cores (4, 4,
      1, 2, 8, 16, 16, 4, 2, 1; Resolvers and cached 0) x lognormal(0, 0.1).
    - an execution starts 1-21 s after its last upstream ends; runs of a pipeline do not
      overlap. Executions still going at the window end are left RUNNING without outputs.

Ground truth (``<store>.truth.parquet``), one row per non-cached Trainer execution:
``trainer_execution_id``, ``pipeline``, ``pushed``, ``cause`` (null when pushed; else
``failure`` — the trainer or a later node failed for good; ``in_flight`` — cut by the window
end; ``drift`` / ``structure_change`` / ``config_change`` — the Evaluator would have blessed
had that single factor been absent, the largest such margin wins; ``other`` — none alone would
flip it, or InfraValidator rejected), ``blessed``, ``window_spans``, ``model_type``,
``train_time``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlprov.sample.synth.chunks import CHUNK_PIPELINES, spill
from mlprov.sample.synth.config import PRESETS, SynthConfig
from mlprov.sample.synth.log import PutLog, merge
from mlprov.sample.synth.payloads import PayloadTree, write_payloads
from mlprov.sample.synth.simulate import PipelineSim
from mlprov.sample.synth.truth import truth_path, truth_table
from mlprov.sample.synth.writer import MlmdWriter, client_available

Writer = Literal["auto", "client", "bulk"]
Progress = Callable[[str, int, int], None]
#: Stores with more executions than this go through the bulk writer under ``writer="auto"``.
CLIENT_MAX_EXECUTIONS = 20_000

__all__ = ["PRESETS", "SynthConfig", "SynthResult", "generate", "simulate", "truth_path"]


@dataclass(frozen=True)
class SynthResult:
    """What :func:`generate` wrote.

    Attributes:
        path: the MLMD SQLite store.
        truth_path: the ground-truth parquet next to it.
        rows: rows written per MLMD table.
        pipelines: pipelines that ran at least once.
        trainers: training executions (rows of the truth table).
        unpushed_share: share of training executions whose model was not pushed.
        writer: the backend used, ``client`` or ``bulk``.
        seconds: wall time of the whole generation.
        payloads: the payload tree written, when asked for.
    """

    path: Path
    truth_path: Path
    rows: dict[str, int]
    pipelines: int
    trainers: int
    unpushed_share: float
    writer: str
    seconds: float
    payloads: PayloadTree | None = None


def simulate(config: SynthConfig, progress: Progress | None = None) -> tuple[PutLog, pa.Table]:
    """Simulate every pipeline and return the put log and the ground-truth table.

    Args:
        config: what to simulate.
        progress: called with ("simulate", pipelines done, pipelines).

    Returns:
        The put log (see :mod:`mlprov.sample.synth.log`) and the truth table.
    """
    sims = []
    for i in range(config.pipelines):
        sims.append(PipelineSim(config, i).run())
        if progress is not None and ((i + 1) % 50 == 0 or i + 1 == config.pipelines):
            progress("simulate", i + 1, config.pipelines)
    log = merge([s.rec for s in sims], config.pipeline_root)
    return log, truth_table([s.truth for s in sims], log)


def generate(
    config: SynthConfig,
    out_path: str | Path,
    *,
    writer: Writer = "auto",
    overwrite: bool = False,
    progress: Progress | None = None,
    payloads: str | Path | None = None,
    chunk_pipelines: int = CHUNK_PIPELINES,
    workers: int | None = 1,
) -> SynthResult:
    """Generate a TFX-shaped MLMD store and its ground truth.

    Both files are written to temporary names in the target directory and moved into place
    only when complete.

    Args:
        config: what to generate (see :data:`PRESETS`).
        out_path: the SQLite store to write; the truth goes to :func:`truth_path`.
        writer: ``client`` (ml-metadata client, one call per execution), ``bulk`` (column-wise
            SQL; needs no client), or ``auto``: the client for stores up to
            :data:`CLIENT_MAX_EXECUTIONS` executions when it is installed, else bulk.
        overwrite: replace existing files.
        progress: called with (stage, done, total) as work proceeds.
        payloads: also write the statistics, schema and anomalies files of the store's
            artifacts under this directory (:mod:`mlprov.sample.synth.payloads`); URIs under
            ``config.pipeline_root`` map to it.
        chunk_pipelines: the bulk writer simulates this many pipelines at a time and spills
            them next to the store (:mod:`mlprov.sample.synth.chunks`), so memory stays bounded;
            the store does not depend on it.
        workers: processes simulating chunks side by side, and writing the store with more
            than one (None: one per CPU; see :func:`mlprov.sample.synth.chunks.spill` and
            :meth:`~mlprov.sample.synth.chunks.Spill.write`).

    Returns:
        A :class:`SynthResult`.

    Raises:
        FileExistsError: if the store or its truth file exists and ``overwrite`` is false.
        RuntimeError: if ``writer="client"`` and the ml-metadata client is not installed.
    """
    started = time.perf_counter()
    out = Path(out_path)
    truth_out = truth_path(out)
    for target in (out, truth_out, *([Path(payloads)] if payloads is not None else [])):
        if target.exists() and not overwrite:
            raise FileExistsError(
                f"{target} exists; pass overwrite=True (CLI: --overwrite) to replace it"
            )
    if writer == "client" and not client_available():
        raise RuntimeError(
            "writer='client' needs the ml-metadata client (Python <= 3.11); use writer='bulk'"
        )
    if writer not in ("auto", "client", "bulk"):
        raise ValueError(f"writer must be 'auto', 'client' or 'bulk', got {writer!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp_truth = tmp.with_name(tmp.name + ".truth")
    try:
        tmp.unlink()  # both writers create the store themselves
        with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as folder:
            corpus = None
            if writer != "client":
                corpus = spill(
                    config,
                    Path(folder),
                    chunk_pipelines=chunk_pipelines,
                    workers=workers,
                    progress=progress,
                )
                small = corpus.executions <= CLIENT_MAX_EXECUTIONS
                if writer == "auto" and small and client_available():
                    corpus = None
            if corpus is None:
                writer = "client"
                log, truth = simulate(config, progress)
                with MlmdWriter(tmp) as w:
                    w.replay(
                        log,
                        None
                        if progress is None
                        else lambda done, total: progress("write", done, total),
                    )
                rows, pipelines = log.row_counts(), len(np.unique(log.ex_pipeline))
            else:
                writer = "bulk"
                truth = corpus.write(tmp, progress, workers=workers)
                rows, pipelines = corpus.rows, corpus.pipelines
        pq.write_table(truth, tmp_truth)
        os.replace(tmp, out)
        os.replace(tmp_truth, truth_out)
    finally:
        for leftover in (tmp, tmp_truth):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    tree = None
    if payloads is not None:
        tree = write_payloads(out, payloads, config.pipeline_root, overwrite=overwrite)
    pushed = truth.column("pushed").to_numpy(zero_copy_only=False)
    return SynthResult(
        path=out,
        truth_path=truth_out,
        rows=rows,
        pipelines=pipelines,
        trainers=truth.num_rows,
        unpushed_share=float(1.0 - pushed.mean()) if len(pushed) else 0.0,
        writer=writer,
        seconds=time.perf_counter() - started,
        payloads=tree,
    )
