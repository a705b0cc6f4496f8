"""Small genuine MLMD stores, one per graphlet boundary rule, written with the ml-metadata client.

Each scenario writes a store with :class:`mlprov.sample.synth.writer.MlmdWriter` (through the
``TfxPipeline`` / ``RunWriter`` helpers of the shared fixtures) and returns the ids it created
by name, so tests can state expected membership in words: ``{"gen1", "trainer1", ...}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlprov.sample.synth.writer import MlmdWriter
from tests.fixtures.stores import (
    EVALUATOR,
    EXAMPLE_GEN,
    PUSHER,
    RESOLVER,
    SCHEMA,
    STATS,
    TRAINER,
    TRANSFORM,
    VALIDATOR,
    RunWriter,
    TfxPipeline,
)

TUNER = "tfx.components.tuner.component.Tuner"
INFRA = "tfx.components.infra_validator.component.InfraValidator"


@dataclass
class Ids:
    """Names of what a scenario wrote: executions and artifacts by name."""

    x: dict[str, int] = field(default_factory=dict)
    a: dict[str, int] = field(default_factory=dict)

    def names(self, execution_ids: set[int]) -> set[str]:
        """Execution ids back to names (ids the scenario did not name stay numbers)."""
        back = {v: k for k, v in self.x.items()}
        return {back.get(i, str(i)) for i in execution_ids}


class Story:
    """A scenario under construction: one writer, named nodes, helpers for TFX chains."""

    def __init__(self, w: MlmdWriter, pipeline: str = "p") -> None:
        self.w = w
        self.pipe = TfxPipeline(w, pipeline)
        self.ids = Ids()
        self.day = 0

    def run(self) -> RunWriter:
        """Start the next run, one day after the previous one."""
        self.day += 1
        return self.pipe.run(f"{self.pipe.name}-r{self.day}", self.day)

    def node(self, r: RunWriter, name: str, type_name: str, **kwargs: object) -> dict[str, int]:
        """Record one execution named ``name``; returns its single output artifact per key."""
        eid, out = r.node(type_name, **kwargs)  # type: ignore[arg-type]
        self.ids.x[name] = eid
        produced = {k: v[0] for k, v in out.items()}
        for key, aid in produced.items():
            self.ids.a.setdefault(f"{name}.{key}", aid)
        return produced

    def new(self, type_name: str, **kwargs: object) -> object:
        return self.w.new_artifact(type_name, **kwargs)  # type: ignore[arg-type]

    def data(self, r: RunWriter, k: int, validator: bool = False) -> dict[str, int]:
        """ExampleGen, StatisticsGen, SchemaGen (and ExampleValidator) for span ``k``."""
        ex = self.node(
            r,
            f"gen{k}",
            EXAMPLE_GEN,
            outputs={"examples": [self.new("Examples", span=k, version=0)]},
        )
        st = self.node(
            r,
            f"stats{k}",
            STATS,
            inputs={"examples": [ex["examples"]]},
            outputs={"statistics": [self.new("ExampleStatistics", span=k)]},
        )
        sc = self.node(
            r,
            f"schema{k}",
            SCHEMA,
            inputs={"statistics": [st["statistics"]]},
            outputs={"schema": [self.new("Schema")]},
        )
        if validator:
            self.node(
                r,
                f"validator{k}",
                VALIDATOR,
                inputs={"statistics": [st["statistics"]], "schema": [sc["schema"]]},
                outputs={"anomalies": [self.new("ExampleAnomalies", span=k)]},
            )
        return {"examples": ex["examples"], "statistics": st["statistics"], "schema": sc["schema"]}

    def train(
        self,
        r: RunWriter,
        k: int,
        inputs: dict[str, list[int]],
        state: str = "COMPLETE",
        model_type: str | None = None,
    ) -> int | None:
        """A Trainer; returns its model artifact (None when it wrote no outputs)."""
        custom: dict[str, object] = {"model_type": model_type} if model_type else {}
        outputs = (
            {"model": [self.new("Model")], "model_run": [self.new("ModelRun")]}
            if state == "COMPLETE"
            else None
        )
        out = self.node(
            r,
            f"trainer{k}",
            TRAINER,
            minutes=30,
            state=state,
            inputs=inputs,
            outputs=outputs,
            custom=custom,
        )
        return out.get("model")

    def evaluate_push(
        self,
        r: RunWriter,
        k: int,
        model: int,
        pushed: int,
        *,
        baseline: int | None = None,
        keyless: bool = False,
        extra_models: tuple[int, ...] = (),
    ) -> None:
        """Evaluator (blessing = pushed) then Pusher (PushedModel.pushed = ``pushed``)."""
        inputs: dict[str, list[int]] = {"model": [model, *extra_models]}
        if baseline is not None:
            inputs["baseline_model"] = [baseline]
        if keyless:
            inputs = {"": [m for ms in inputs.values() for m in ms]}
        bl = self.node(
            r,
            f"evaluator{k}",
            EVALUATOR,
            inputs=inputs,
            outputs={"blessing": [self.new("ModelBlessing", custom={"blessed": pushed})]},
        )
        pin = {"model": [model], "model_blessing": [bl["blessing"]]}
        if keyless:
            pin = {"": [model, bl["blessing"]]}
        self.node(
            r,
            f"pusher{k}",
            PUSHER,
            inputs=pin,
            outputs={"pushed_model": [self.new("PushedModel", custom={"pushed": pushed})]},
        )


Scenario = Callable[[Story], None]


def write(path: Path, scenario: Scenario, pipeline: str = "p") -> Ids:
    """Write ``scenario`` into a new MLMD store at ``path``; return the names it gave."""
    with MlmdWriter(path) as w:
        story = Story(w, pipeline)
        scenario(story)
    return story.ids


def rolling_window(s: Story) -> None:
    """Three spans, each trained on a window of the last two: ExampleGens are shared."""
    data: dict[int, dict[str, int]] = {}
    for k in (1, 2, 3):
        r = s.run()
        data[k] = s.data(r, k, validator=True)
        window = [data[j]["examples"] for j in (k - 1, k) if j in data]
        model = s.train(r, k, {"examples": window, "schema": [data[k]["schema"]]})
        assert model is not None
        s.evaluate_push(r, k, model, pushed=1)


def warm_start(s: Story) -> None:
    """Run 2 warm-starts from run 1's model (a Resolver re-emits it), and compares to it."""
    r = s.run()
    d1 = s.data(r, 1)
    m1 = s.train(r, 1, {"examples": [d1["examples"]], "schema": [d1["schema"]]})
    assert m1 is not None
    s.evaluate_push(r, 1, m1, pushed=1)
    r = s.run()
    d2 = s.data(r, 2)
    s.node(r, "resolver2", RESOLVER, minutes=0, internal_outputs={"model": [m1]})
    m2 = s.train(r, 2, {"examples": [d2["examples"]], "schema": [d2["schema"]], "base_model": [m1]})
    assert m2 is not None
    s.evaluate_push(r, 2, m2, pushed=1, baseline=m1)


def baseline_push(s: Story) -> None:
    """Run 2's Evaluator reads model 1 only as ``baseline_model``, and run 2 pushes."""
    r = s.run()
    d1 = s.data(r, 1)
    m1 = s.train(r, 1, {"examples": [d1["examples"]]})
    assert m1 is not None
    s.evaluate_push(r, 1, m1, pushed=0)
    r = s.run()
    d2 = s.data(r, 2)
    m2 = s.train(r, 2, {"examples": [d2["examples"]]})
    assert m2 is not None
    s.evaluate_push(r, 2, m2, pushed=1, baseline=m1)


def cached_retry(s: Story) -> None:
    """The Evaluator fails; the retry re-publishes Transform and Trainer outputs from cache."""
    r = s.run()
    d = s.data(r, 1)
    tf = s.node(
        r,
        "transform1",
        TRANSFORM,
        inputs={"examples": [d["examples"]], "schema": [d["schema"]]},
        outputs={
            "transform_graph": [s.new("TransformGraph")],
            "transformed_examples": [s.new("Examples", span=1)],
        },
    )
    tin = {"examples": [tf["transformed_examples"]], "transform_graph": [tf["transform_graph"]]}
    m = s.train(r, 1, tin)
    assert m is not None
    s.node(r, "evaluator_failed", EVALUATOR, state="FAILED", inputs={"model": [m]})
    r = s.run()
    s.node(r, "gen_cached", EXAMPLE_GEN, state="CACHED", outputs={"examples": [d["examples"]]})
    s.node(
        r,
        "transform_cached",
        TRANSFORM,
        state="CACHED",
        inputs={"examples": [d["examples"]], "schema": [d["schema"]]},
        outputs={
            "transform_graph": [tf["transform_graph"]],
            "transformed_examples": [tf["transformed_examples"]],
        },
    )
    s.node(r, "trainer_cached", TRAINER, state="CACHED", inputs=tin, outputs={"model": [m]})
    s.evaluate_push(r, 1, m, pushed=1)


def failures(s: Story) -> None:
    """A run that fails before training, a failed trainer, a running one, and pushed = 0."""
    r = s.run()
    d1 = s.data(r, 1)
    s.node(
        r,
        "transform_failed",
        TRANSFORM,
        state="FAILED",
        inputs={"examples": [d1["examples"]], "schema": [d1["schema"]]},
    )
    r = s.run()
    d2 = s.data(r, 2)
    s.train(r, 2, {"examples": [d2["examples"]]}, state="FAILED")
    r = s.run()
    d3 = s.data(r, 3)
    m3 = s.train(r, 3, {"examples": [d3["examples"]]})
    assert m3 is not None
    s.evaluate_push(r, 3, m3, pushed=0)
    r = s.run()
    d4 = s.data(r, 4)
    s.train(r, 4, {"examples": [d4["examples"]]}, state="RUNNING")


def tuner(s: Story) -> None:
    """A Tuner runs once; its hyperparameters feed the trainers of two runs."""
    r = s.run()
    d1 = s.data(r, 1)
    hp = s.node(
        r,
        "tuner1",
        TUNER,
        inputs={"examples": [d1["examples"]]},
        outputs={"best_hyperparameters": [s.new("HyperParameters")]},
    )
    m1 = s.train(
        r, 1, {"examples": [d1["examples"]], "hyperparameters": [hp["best_hyperparameters"]]}
    )
    assert m1 is not None
    s.evaluate_push(r, 1, m1, pushed=1)
    r = s.run()
    d2 = s.data(r, 2)
    m2 = s.train(
        r, 2, {"examples": [d2["examples"]], "hyperparameters": [hp["best_hyperparameters"]]}
    )
    assert m2 is not None
    s.evaluate_push(r, 2, m2, pushed=1)


def structure_change(s: Story) -> None:
    """Runs 1-2 train through Transform; run 3 drops it and adds an InfraValidator."""
    for k in (1, 2):
        r = s.run()
        d = s.data(r, k)
        tf = s.node(
            r,
            f"transform{k}",
            TRANSFORM,
            inputs={"examples": [d["examples"]], "schema": [d["schema"]]},
            outputs={
                "transform_graph": [s.new("TransformGraph")],
                "transformed_examples": [s.new("Examples", span=k)],
            },
        )
        m = s.train(
            r,
            k,
            {"examples": [tf["transformed_examples"]], "transform_graph": [tf["transform_graph"]]},
            model_type="dnn",
        )
        assert m is not None
        s.evaluate_push(r, k, m, pushed=1)
    r = s.run()
    d = s.data(r, 3)
    m = s.train(r, 3, {"examples": [d["examples"]], "schema": [d["schema"]]}, model_type="linear")
    assert m is not None
    infra = s.node(
        r,
        "infra3",
        INFRA,
        inputs={"model": [m], "examples": [d["examples"]]},
        outputs={"blessing": [s.new("InfraBlessing", custom={"blessed": 1})]},
    )
    bl = s.node(
        r,
        "evaluator3",
        EVALUATOR,
        inputs={"model": [m]},
        outputs={"blessing": [s.new("ModelBlessing", custom={"blessed": 0})]},
    )
    s.node(
        r,
        "pusher3",
        PUSHER,
        inputs={
            "model": [m],
            "model_blessing": [bl["blessing"]],
            "infra_blessing": [infra["blessing"]],
        },
        outputs={"pushed_model": [s.new("PushedModel", custom={"pushed": 0})]},
    )


def keyless(s: Story) -> None:
    """Events without keys: run 2's Evaluator and Pusher read both models."""
    r = s.run()
    d1 = s.data(r, 1)
    m1 = s.train(r, 1, {"examples": [d1["examples"]]})
    assert m1 is not None
    r = s.run()
    d2 = s.data(r, 2)
    m2 = s.train(r, 2, {"examples": [d2["examples"]]})
    assert m2 is not None
    s.evaluate_push(r, 2, m2, pushed=1, keyless=True, extra_models=(m1,))


def outcomes(s: Story) -> None:
    """One graphlet per reason for not pushing (graphlets.REASONS), run k named by it."""
    reasons = (
        "pushed",
        "not_blessed",
        "infra_rejected",
        "trainer_failed",
        "in_flight",
        "cut_before_evaluation",
        "evaluation_failed",
        "push_failed",
        "push_skipped",
    )
    for k, reason in enumerate(reasons, start=1):
        r = s.run()
        d = s.data(r, k)
        state = {"trainer_failed": "FAILED", "in_flight": "RUNNING"}.get(reason, "COMPLETE")
        model = s.train(r, k, {"examples": [d["examples"]]}, state=state)
        s.ids.x[reason] = s.ids.x[f"trainer{k}"]
        if model is None or reason == "cut_before_evaluation":
            continue
        if reason in ("pushed", "not_blessed"):
            s.evaluate_push(r, k, model, pushed=int(reason == "pushed"))
            continue
        blessed = reason != "evaluation_failed"
        bl = s.node(
            r,
            f"evaluator{k}",
            EVALUATOR,
            state="COMPLETE" if blessed else "FAILED",
            inputs={"model": [model]},
            outputs={"blessing": [s.new("ModelBlessing", custom={"blessed": 1})]}
            if blessed
            else None,
        )
        if reason == "infra_rejected":
            s.node(
                r,
                f"infra{k}",
                INFRA,
                inputs={"model": [model]},
                outputs={"blessing": [s.new("InfraBlessing", custom={"blessed": 0})]},
            )
        if reason in ("infra_rejected", "push_failed"):
            s.node(
                r,
                f"pusher{k}",
                PUSHER,
                state="FAILED" if reason == "push_failed" else "COMPLETE",
                inputs={"model": [model], "model_blessing": [bl["blessing"]]},
                outputs=None
                if reason == "push_failed"
                else {"pushed_model": [s.new("PushedModel", custom={"pushed": 0})]},
            )
