"""The boundary rules of a model graphlet (study.md, "Model graphlet"), each a documented switch.

The defaults are the project's definition; every switch exists so a user can see how much a
figure depends on it, or adapt the cut to a source that records provenance differently.

Example:
    >>> from mlprov.graphlets.rules import GraphletRules
    >>> GraphletRules().excluded_keys
    ('baseline_model',)
    >>> GraphletRules(deploy_on_complete=True).digest() != GraphletRules().digest()
    True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

from mlprov.graphlets.errors import ConflictingRulesError

if TYPE_CHECKING:
    from mlprov.provenance.store import ProvenanceStore


@dataclass(frozen=True)
class GraphletRules:
    """How the provenance graph of a pipeline is cut into model graphlets.

    Attributes:
        anchor_category: executions of this category train models and anchor graphlets.
        non_anchor_components: components of ``anchor_category`` that never anchor a graphlet
            and whose outputs are not models (TFX's Tuner: its hyperparameters feed trainers,
            so a Tuner is upstream work of every graphlet that uses them).
        stop_at_warm_start_models: walking upstream, keep an artifact produced by another
            training execution (a warm-start model) as a ``boundary`` node and do not expand
            its producers. Off, a warm-started graphlet swallows the whole chain of earlier
            trainings.
        expand_through_resolvers: treat INTERNAL_OUTPUT / INTERNAL_INPUT events (a Resolver
            re-emitting an earlier run's artifact) as producing / consuming edges. Off, an
            artifact only ever re-emitted by a Resolver is not expanded through the Resolver.
        follow_cached_to_original_producer: walking upstream through an artifact that a
            CACHED execution re-published, also include the execution that originally
            computed it (and its inputs). Off, the cache hit stands for that work and the
            original producer is only reached through artifacts it alone published.
        causal_producers: a producer is followed upstream from a consumer only if it started
            no later than the consumer (a cache hit re-publishing an artifact after it was
            consumed did not feed that consumer). Missing times never exclude.
        excluded_keys: walking downstream, do not follow an input edge with one of these
            event keys: an Evaluator consuming an earlier model as ``baseline_model`` does
            not belong to that model's graphlet.
        exclude_other_trainers: the downstream walk and side branches never enter an
            execution of ``anchor_category`` (another training run starts its own graphlet).
        newest_model_rule_without_keys: when an execution reads models through events without
            keys, it belongs only to the graphlet whose trainer produced the newest of them
            (latest create time, then highest id).
        include_side_branches: add executions that consume only the graphlet's non-boundary
            artifacts and feed no training execution (role ``side``), repeatedly.
        deploy_category: the category of executions that deploy (TFX: Pusher).
        pushed_property: an artifact property (custom or declared, integer) that a deploy
            execution sets to 1 on an output it pushed (TFX ``PushedModel.pushed``).
        deploy_on_complete: the user's deploy rule for sources without a push record: a
            COMPLETE deploy execution none of whose outputs carries ``pushed_property``
            counts as a push (e.g. a Kubeflow ``deploy-model`` task).
        validation_category: the category of executions that judge a model (TFX: Evaluator,
            InfraValidator); with ``blessed_property`` they give a graphlet's verdict.
        blessed_property: an artifact property a validation execution sets to 1 on a model
            it blessed, 0 on one it rejected (TFX ``ModelBlessing.blessed``).
    """

    anchor_category: str = "train"
    non_anchor_components: tuple[str, ...] = ("Tuner",)
    stop_at_warm_start_models: bool = True
    expand_through_resolvers: bool = False
    follow_cached_to_original_producer: bool = True
    causal_producers: bool = True
    excluded_keys: tuple[str, ...] = ("baseline_model",)
    exclude_other_trainers: bool = True
    newest_model_rule_without_keys: bool = True
    include_side_branches: bool = True
    deploy_category: str = "deploy"
    pushed_property: str = "pushed"
    deploy_on_complete: bool = False
    validation_category: str = "model_validation"
    blessed_property: str = "blessed"

    @classmethod
    def for_store(cls, store: ProvenanceStore) -> GraphletRules:
        """The default rules with the deploy rule the store's sources were ingested with.

        A mapping's ``[deploy]`` table (:class:`mlprov.provenance.conventions.DeployRule`) is kept
        with each source: ``tasks`` turn on ``deploy_on_complete`` (ingest already put exactly
        those tasks in the deploy category) and ``pushed_property`` names the push property.
        Sources that name different push properties cannot share one build.

        Raises:
            ConflictingRulesError: two sources name different pushed properties.
        """
        rows = store.con.execute(
            "SELECT json_extract(deploy_rule, '$.tasks'), "
            "json_extract_string(deploy_rule, '$.pushed_property') "
            "FROM sources WHERE deploy_rule IS NOT NULL ORDER BY source_id"
        ).fetchall()
        rules = cls()
        if any(tasks and json.loads(tasks) for tasks, _ in rows):
            rules = replace(rules, deploy_on_complete=True)
        pushed = sorted({p for _, p in rows if p})
        if len(pushed) > 1:
            raise ConflictingRulesError(
                f"the store's sources name different pushed properties ({', '.join(pushed)}); "
                "ingest them with one [deploy] pushed_property, or into separate databases"
            )
        return replace(rules, pushed_property=pushed[0]) if pushed else rules

    def digest(self) -> str:
        """A short hash of every switch: graphlets built under other rules are rebuilt.

        Returns:
            16 hexadecimal characters.
        """
        body = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    @property
    def producing_events(self) -> tuple[str, ...]:
        """Event types that make an execution an artifact's producer."""
        return ("OUTPUT", "INTERNAL_OUTPUT") if self.expand_through_resolvers else ("OUTPUT",)

    @property
    def consuming_events(self) -> tuple[str, ...]:
        """Event types that make an execution an artifact's consumer."""
        return ("INPUT", "INTERNAL_INPUT") if self.expand_through_resolvers else ("INPUT",)
