"""Simulate TFX pipelines over a time window and record what they would write to MLMD.

One :class:`PipelineSim` per pipeline walks through its runs in time order: the latent data of
each span, configuration and structure changes, and each run's nodes (data validation, then on
training spans Transform, Tuner, Trainer, Evaluator, InfraValidator and Pusher). It records
every execution, artifact, event and property into a
:class:`~mlprov.sample.synth.recorder.PipelineRecorder`, plus one ground-truth row per training
execution. Pipelines are independent (each has its own random stream,
``SeedSequence([seed, index])``), so they can be simulated in any order or in parallel. One
execution is :mod:`mlprov.sample.synth.steps`, model quality :mod:`mlprov.sample.synth.quality`, the
distributions' parameters :mod:`mlprov.sample.synth.parameters`.
"""

from __future__ import annotations

import datetime as dt
import math

from mlprov.provenance.mlmd_codes import ExecutionState
from mlprov.sample.synth.config import SynthConfig
from mlprov.sample.synth.parameters import (
    CODE_EFFECT,
    DAY_MS,
    MINUTE_MS,
    MODEL_TYPE_WEIGHTS,
    MODEL_TYPES,
    P_INFRA_REJECT,
    P_RETRY,
    RETRY_DELAY_MEDIAN_MIN,
    SHOCK_PER_SPAN,
    SHOCK_SIGMA,
    SPLITS,
    STRUCTURE_DECAY,
    STRUCTURE_PENALTY,
    TUNE_EVERY,
    WALK_SIGMA_PER_DAY,
)
from mlprov.sample.synth.quality import Model, evaluate, skill, window_fit
from mlprov.sample.synth.steps import Attempt, Steps
from mlprov.sample.synth.tfx import KEY, PROP, Node
from mlprov.sample.synth.truth import TruthRow

__all__ = ["PipelineSim", "TruthRow"]


class PipelineSim(Steps):
    """Simulate one pipeline over the window into a recorder.

    Args:
        config: the generator configuration.
        index: pipeline index (seeds its random stream).
    """

    def __init__(self, config: SynthConfig, index: int) -> None:
        super().__init__(config, index)
        self.examples: dict[int, int] = {}  # span -> Examples artifact
        self.last_model: Model | None = None
        self.last_blessed: Model | None = None
        self.models: dict[int, Model] = {}
        self.hyperparameters: int | None = None
        self.trainings = 0
        self.trainings_since_tune = 0
        self.tune_due = True
        self.code_effect = 0.0
        self.structure_applied = False
        self.trainings_since_structure = -1
        self.structure_penalty_scale = 0.0
        self.config_cursor = 0
        self.walk = 0.0

    # -- main loop ---------------------------------------------------------------------------
    def run(self) -> PipelineSim:
        """Simulate every run of the pipeline; returns self (recorder and truth filled)."""
        p, d = self.p, self.d
        prev_end = p.life_start
        span = 0
        m0, m1, s0, s1 = d.z(), d.z(), 0.0, 0.0
        walk = self.walk = WALK_SIGMA_PER_DAY * math.sqrt(p.period_ms / DAY_MS)
        while True:
            scheduled = p.life_start + (span + 1) * p.period_ms
            if scheduled >= p.life_end:
                break
            t0 = max(scheduled, prev_end + int(30_000 + d.u() * 300_000))
            if t0 >= self.window_end:
                break
            m0 += walk * d.z()
            m1 += walk * d.z()
            s0 += 0.3 * walk * d.z()
            s1 += 0.3 * walk * d.z()
            if d.u() < SHOCK_PER_SPAN:
                m0 += SHOCK_SIGMA * d.z()
                m1 += SHOCK_SIGMA * d.z()
                s0 += 0.3 * SHOCK_SIGMA * d.z()
            self.mean.append((m0, m1))
            self.std.append((math.exp(s0), math.exp(s1)))
            train = (span + 1) % p.train_every == 0
            if train:
                self._apply_changes(t0)
            attempt = self._attempt(span, train, t0, None)
            retries = 0
            while attempt.failed_node >= 0 and retries < 2 and d.u() < P_RETRY:
                retries += 1
                t_retry = attempt.end + int(d.lognormal(RETRY_DELAY_MEDIAN_MIN, 0.5) * MINUTE_MS)
                if t_retry >= self.window_end:
                    break
                attempt = self._attempt(span, train, t_retry, attempt)
            prev_end = attempt.end
            if attempt.cut:
                break
            span += 1
        return self

    def _apply_changes(self, now: int) -> None:
        """Apply configuration and structure changes that happened before this training."""
        p, d = self.p, self.d
        while (
            self.config_cursor < len(p.config_changes)
            and p.config_changes[self.config_cursor] <= now
        ):
            self.config_cursor += 1
            r = d.u()
            if r < 0.5:  # hyperparameters
                self.train_steps = 1000 * (1 + int(d.u() * 10))
            elif r < 0.8:  # trainer code
                self.code_version += 1
            elif r < 0.95:  # transform code
                self.transform_version += 1
            else:  # model type switch
                p.model_type = str(d.choice(MODEL_TYPES, MODEL_TYPE_WEIGHTS))
                self.code_version += 1
            self.code_effect = 0.5 * self.code_effect + CODE_EFFECT[0] + CODE_EFFECT[1] * d.z()
            self.tune_due = True
        if not self.structure_applied and 0 <= p.structure_change_ms <= now:
            self.structure_applied = True
            setattr(p, p.structure_toggle, not getattr(p, p.structure_toggle))
            self.trainings_since_structure = 0
            self.structure_penalty_scale = STRUCTURE_PENALTY[0] + d.u() * (
                STRUCTURE_PENALTY[1] - STRUCTURE_PENALTY[0]
            )
            self.tune_due = True

    # -- one run ----------------------------------------------------------------------------------
    def _attempt(self, span: int, train: bool, t0: int, prev: Attempt | None) -> Attempt:
        p, rec = self.p, self.rec
        run = rec.run(t0, f"{p.name}-{_run_id(t0)}")
        att = Attempt(run, prev, end=t0)
        # data: ingest, statistics, schema, validation
        res = self._step(att, Node.EXAMPLE_GEN, t0, [], [("examples", "Examples")], sig=(span,))
        if res is None:
            return att
        eg, out = res
        [examples] = out[KEY["examples"]]
        if span not in self.examples:
            self.examples[span] = examples
            rec.art_prop(examples, PROP["span"], span, custom=False)
            rec.art_prop(examples, PROP["version"], 0, custom=False)
            rec.art_prop(examples, PROP["split_names"], SPLITS, custom=False)
            rec.art_prop(examples, PROP["file_format"], "tfrecords_gzip")
            rec.art_prop(examples, PROP["payload_format"], "FORMAT_TF_EXAMPLE")
        t = rec.ex_end[eg]
        res = self._step(
            att,
            Node.STATISTICS_GEN,
            t,
            [("examples", [examples])],
            [("statistics", "ExampleStatistics")],
        )
        if res is None:
            return att
        sg, out = res
        [stats] = out[KEY["statistics"]]
        if rec.ex_state[sg] == ExecutionState.COMPLETE:
            self._stats_props(stats, span)
        t = rec.ex_end[sg]
        res = self._step(att, Node.SCHEMA_GEN, t, [("statistics", [stats])], [("schema", "Schema")])
        if res is None:
            return att
        sch, out = res
        [schema] = out[KEY["schema"]]
        t_schema = rec.ex_end[sch]
        res = self._step(
            att,
            Node.EXAMPLE_VALIDATOR,
            t_schema,
            [("statistics", [stats]), ("schema", [schema])],
            [("anomalies", "ExampleAnomalies")],
        )
        if res is None:
            return att
        ev, out = res
        if rec.ex_state[ev] == ExecutionState.COMPLETE:
            [anomalies] = out[KEY["anomalies"]]
            rec.art_prop(anomalies, PROP["span"], span, custom=False)
            rec.art_prop(anomalies, PROP["split_names"], SPLITS, custom=False)
        if not train:
            return att
        return self._train(att, span, t0, t_schema, schema)

    def _stats_props(self, stats: int, span: int) -> None:
        rec, d = self.rec, self.d
        m, s = self.mean[span], self.std[span]
        rec.art_prop(stats, PROP["span"], span, custom=False)
        rec.art_prop(stats, PROP["split_names"], SPLITS, custom=False)
        n = max(100, int(d.lognormal(50_000 * self.p.size, 0.1)))
        rec.art_prop(stats, PROP["num_examples"], n)
        noise = 1.0 / math.sqrt(n)
        rec.art_prop(stats, PROP["feature_0_mean"], round(m[0] + noise * d.z(), 5))
        rec.art_prop(stats, PROP["feature_0_std"], round(s[0] * (1 + noise * d.z()), 5))
        rec.art_prop(stats, PROP["feature_1_mean"], round(m[1] + noise * d.z(), 5))
        rec.art_prop(stats, PROP["feature_1_std"], round(s[1] * (1 + noise * d.z()), 5))

    def _train(self, att: Attempt, span: int, t0: int, t_schema: int, schema: int) -> Attempt:
        p, rec, d = self.p, self.rec, self.d
        spans = [s for s in range(span - p.window + 1, span + 1) if s in self.examples]
        window_examples = [self.examples[s] for s in spans]
        self.window_spans = spans
        trainer_inputs: list[tuple[str, list[int]]]
        ready = t_schema
        if p.transform:
            res = self._step(
                att,
                Node.TRANSFORM,
                t_schema,
                [("examples", window_examples), ("schema", [schema])],
                [("transform_graph", "TransformGraph"), ("transformed_examples", "Examples")],
                sig=(self.transform_version,),
                window=len(spans),
            )
            if res is None:
                return att
            tr, out = res
            [graph] = out[KEY["transform_graph"]]
            [transformed] = out[KEY["transformed_examples"]]
            if rec.ex_state[tr] == ExecutionState.COMPLETE:
                rec.art_prop(transformed, PROP["span"], span, custom=False)
                rec.art_prop(transformed, PROP["version"], 0, custom=False)
                rec.art_prop(transformed, PROP["split_names"], SPLITS, custom=False)
            trainer_inputs = [
                ("examples", [transformed]),
                ("transform_graph", [graph]),
                ("schema", [schema]),
            ]
            ready = rec.ex_end[tr]
        else:
            trainer_inputs = [("examples", window_examples), ("schema", [schema])]
        if p.tuner and (
            self.tune_due or self.trainings_since_tune >= TUNE_EVERY or self.hyperparameters is None
        ):
            res = self._step(
                att,
                Node.TUNER,
                ready,
                list(trainer_inputs),
                [("best_hyperparameters", "HyperParameters")],
                sig=(self.code_version, self.train_steps),
                window=len(spans),
            )
            if res is None:
                return att
            tu, out = res
            self.hyperparameters = out[KEY["best_hyperparameters"]][0]
            self.tune_due = False
            self.trainings_since_tune = 0
            ready = rec.ex_end[tu]
        if p.tuner and self.hyperparameters is not None:
            trainer_inputs.append(("hyperparameters", [self.hyperparameters]))
        base = self.last_model if p.warm else None
        if p.warm:
            ready = max(ready, self._resolver(att, Node.LATEST_MODEL_RESOLVER, t0, base))
            if base is not None:
                trainer_inputs.append(("base_model", [base.art]))
        res = self._step(
            att,
            Node.TRAINER,
            ready,
            trainer_inputs,
            [("model", "Model"), ("model_run", "ModelRun")],
            sig=(self.code_version, self.train_steps),
            window=len(spans),
        )
        if res is None:
            return att
        trn, out = res
        [model_art] = out[KEY["model"]]
        if rec.ex_state[trn] == ExecutionState.CACHED:
            model = self.models[model_art]
        else:
            model = self._new_model(trn, model_art, spans, base is not None)
        t_model = rec.ex_end[trn]
        baseline = self.last_blessed if p.baseline else None
        if p.baseline:
            self._resolver(att, Node.LATEST_BLESSED_MODEL_RESOLVER, t0, baseline)
        blessed, cause = evaluate(model, baseline, self.mean[span], p.model_type, p.threshold, d)
        eval_inputs = [("examples", [self.examples[span]]), ("model", [model_art])]
        if baseline is not None:
            eval_inputs.append(("baseline_model", [baseline.art]))
        eval_inputs.append(("schema", [schema]))
        res = self._step(
            att,
            Node.EVALUATOR,
            t_model,
            eval_inputs,
            [("evaluation", "ModelEvaluation"), ("blessing", "ModelBlessing")],
            cacheable=False,
        )
        if res is None:
            return self._stopped(att, model)
        evx, out = res
        [blessing] = out[KEY["blessing"]]
        rec.art_prop(blessing, PROP["blessed"], int(blessed))
        rec.art_prop(blessing, PROP["current_model_id"], model_art, ref=True)
        if baseline is not None:
            rec.art_prop(blessing, PROP["baseline_model_id"], baseline.art, ref=True)
        ready = rec.ex_end[evx]
        pusher_inputs = [("model", [model_art]), ("model_blessing", [blessing])]
        infra_ok = True
        if p.infra:
            res = self._step(
                att,
                Node.INFRA_VALIDATOR,
                t_model,
                [("model", [model_art]), ("examples", [self.examples[span]])],
                [("blessing", "InfraBlessing")],
                cacheable=False,
            )
            if res is None:
                return self._stopped(att, model)
            ivx, out = res
            infra_ok = d.u() >= P_INFRA_REJECT
            [infra] = out[KEY["blessing"]]
            rec.art_prop(infra, PROP["blessed"], int(infra_ok))
            pusher_inputs.append(("infra_blessing", [infra]))
            ready = max(ready, rec.ex_end[ivx])
        res = self._step(
            att,
            Node.PUSHER,
            ready,
            pusher_inputs,
            [("pushed_model", "PushedModel")],
            cacheable=False,
        )
        if res is None:
            return self._stopped(att, model)
        px, out = res
        [pushed_art] = out[KEY["pushed_model"]]
        pushed = blessed and infra_ok
        rec.art_prop(pushed_art, PROP["pushed"], int(pushed))
        row = model.trainer_truth
        row.blessed = blessed
        if pushed:
            rec.art_prop(pushed_art, PROP["pushed_destination"], f"/serving/{p.name}")
            rec.art_prop(pushed_art, PROP["pushed_version"], str(rec.ex_end[px] // 1000))
            row.pushed, row.cause = True, ""
        else:
            row.pushed, row.cause = False, cause if not blessed else "other"
        if blessed:
            self.last_blessed = model
        return att

    def _stopped(self, att: Attempt, model: Model) -> Attempt:
        """Downstream of the trainer stopped: in flight if cut by the window, else failure."""
        model.trainer_truth.cause = "in_flight" if att.cut else "failure"
        return att

    def _new_model(self, trn: int, art: int, spans: list[int], warm: bool) -> Model:
        p = self.p
        self.trainings += 1
        self.trainings_since_tune += 1
        penalty = 0.0
        if self.trainings_since_structure >= 0:
            penalty = -self.structure_penalty_scale * math.exp(
                -self.trainings_since_structure / STRUCTURE_DECAY
            )
            self.trainings_since_structure += 1
        trained = skill(p.model_type, self.code_effect, penalty, warm, self.d)
        mean, het = window_fit([self.mean[s] for s in spans], self.walk)
        row = TruthRow(trn, p.name, self.rec.ex_start[trn], spans, p.model_type, cause="in_flight")
        self.truth.append(row)
        model = Model(art, row, trained, mean, het, self.code_effect, penalty)
        self.models[art] = model
        self.last_model = model
        return model


def _run_id(ms: int) -> str:
    """TFX's default pipeline run id: the run's start time, ISO format with microseconds."""
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")
