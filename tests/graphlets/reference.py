"""A node-at-a-time reference implementation of the graphlet rules, for tests only.

It reads the canonical tables into plain Python structures and walks one anchor at a time with
networkx, following study.md and :class:`mlprov.graphlets.rules.GraphletRules` literally. It is slow
by design and shares no code with the set-at-a-time builder, so agreement between the two is
evidence both implement the rules.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import pandas as pd

from mlprov.graphlets.rules import GraphletRules
from mlprov.provenance.store import ProvenanceStore


@dataclass
class RefGraphlet:
    """What the reference computes for one graphlet."""

    source_id: int
    graphlet_id: int
    executions: dict[int, str] = field(default_factory=dict)  # id -> role
    artifacts: dict[int, str] = field(default_factory=dict)  # id -> role
    deployed: bool = False
    push_time: Any = None
    in_flight: bool = False
    input_spans: list[int] = field(default_factory=list)
    depth: int = 0
    own_cost: float = 0.0
    split_cost: float = 0.0


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NaT


def reference_graphlets(
    store: ProvenanceStore, rules: GraphletRules | None = None
) -> dict[tuple[int, int], RefGraphlet]:
    """Compute every graphlet of the store with per-anchor traversals.

    Args:
        store: an ingested canonical store.
        rules: the rules; defaults.

    Returns:
        {(source_id, graphlet_id): RefGraphlet}.
    """
    rules = rules or GraphletRules()
    ex = store.df("SELECT * FROM executions").to_dict("records")
    events = store.df("SELECT * FROM events").to_dict("records")
    arts = {
        (r["source_id"], r["artifact_id"]): r
        for r in store.df("SELECT * FROM artifacts").to_dict("records")
    }
    props = store.df(
        "SELECT source_id, artifact_id, "
        "coalesce(int_value, bool_value::INTEGER, double_value) AS v "
        "FROM artifact_properties WHERE name = ?",
        [rules.pushed_property],
    )
    flagged: dict[tuple[int, int], bool] = {}
    for r in props.to_dict("records"):
        key = (r["source_id"], r["artifact_id"])
        flagged[key] = flagged.get(key, False) or r["v"] == 1
    costs = {
        (r["source_id"], r["execution_id"]): r["cost"]
        for r in store.df("SELECT * FROM execution_costs").to_dict("records")
    }

    info: dict[tuple[int, int], dict[str, Any]] = {}
    for r in ex:
        pkey = -1 if _missing(r["pipeline_id"]) else int(r["pipeline_id"])
        info[(r["source_id"], r["execution_id"])] = {
            **r,
            "pkey": pkey,
            "start": None if _missing(r["start_time"]) else r["start_time"],
            "train_cat": r["category"] == rules.anchor_category,
            "trainer": r["category"] == rules.anchor_category
            and r["component"] not in rules.non_anchor_components,
        }
    producers: dict[tuple[int, int, int], set[int]] = defaultdict(set)  # (sid, pkey, a) -> x
    outputs: dict[tuple[int, int], set[int]] = defaultdict(set)  # (sid, x) -> a
    consumers: dict[tuple[int, int, int], dict[int, list[Any]]] = defaultdict(dict)
    inputs: dict[tuple[int, int], dict[int, list[Any]]] = defaultdict(dict)  # (sid, x) -> a -> keys
    for e in events:
        x = info[(e["source_id"], e["execution_id"])]
        a, sid = e["artifact_id"], e["source_id"]
        if e["type"] in rules.producing_events:
            producers[(sid, x["pkey"], a)].add(e["execution_id"])
            outputs[(sid, e["execution_id"])].add(a)
        if e["type"] in rules.consuming_events:
            key = None if _missing(e["key"]) else e["key"]
            consumers[(sid, x["pkey"], a)].setdefault(e["execution_id"], []).append(key)
            inputs[(sid, e["execution_id"])].setdefault(a, []).append(key)

    def pair_key(keys: list[Any]) -> Any:
        named = [k for k in keys if k is not None]
        return min(named) if named else None

    def started_before(p: dict[str, Any], c: dict[str, Any]) -> bool:
        if not rules.causal_producers or p["start"] is None or c["start"] is None:
            return True
        return bool(p["start"] <= c["start"])

    boundary = {
        k
        for k, xs in producers.items()
        if rules.stop_at_warm_start_models and any(info[(k[0], x)]["trainer"] for x in xs)
    }
    recached = {
        k for k, xs in producers.items() if any(info[(k[0], x)]["state"] == "CACHED" for x in xs)
    }

    def up_edges(sid: int, x: int) -> list[int]:
        """Producers the upstream walk follows from execution x."""
        c = info[(sid, x)]
        if c["category"] == "ingest":
            return []
        found = []
        for a in inputs.get((sid, x), {}):
            key = (sid, c["pkey"], a)
            if key in boundary:
                continue
            for p in producers.get(key, ()):
                pi = info[(sid, p)]
                if p == x or not started_before(pi, c):
                    continue
                if (
                    not rules.follow_cached_to_original_producer
                    and key in recached
                    and pi["state"] != "CACHED"
                ):
                    continue
                found.append(p)
        return found

    # executions with a path of at least one edge to a training-category execution
    feeds: set[tuple[int, int]] = set()
    frontier = [k for k, v in info.items() if v["train_cat"]]
    seen_back: set[tuple[int, int]] = set()
    while frontier:
        sid, x = frontier.pop()
        if (sid, x) in seen_back:
            continue
        seen_back.add((sid, x))
        c = info[(sid, x)]
        for a in inputs.get((sid, x), {}):
            for p in producers.get((sid, c["pkey"], a), ()):
                if p != x and started_before(info[(sid, p)], c):
                    feeds.add((sid, p))
                    frontier.append((sid, p))

    # newest-model rule: consumer -> anchor of the newest model it reads without keys
    newest: dict[tuple[int, int], Any] = {}
    if rules.newest_model_rule_without_keys:
        for (sid, x), ins in inputs.items():
            pkey = info[(sid, x)]["pkey"]
            models = []
            for a, keys in ins.items():
                if pair_key(keys) is not None:
                    continue
                makers = [p for p in producers.get((sid, pkey, a), ()) if info[(sid, p)]["trainer"]]
                if not makers:
                    continue
                anchors = [p for p in makers if info[(sid, p)]["state"] != "CACHED"]
                created = arts[(sid, a)]["create_time"]
                models.append(
                    (
                        0 if _missing(created) else 1,
                        created if not _missing(created) else pd.Timestamp(0),
                        a,
                        min(anchors) if anchors else None,
                    )
                )
            if models:
                newest[(sid, x)] = max(models)[3]

    result: dict[tuple[int, int], RefGraphlet] = {}
    anchors = [k for k, v in info.items() if v["trainer"] and v["state"] != "CACHED"]
    for sid, t in anchors:
        ti = info[(sid, t)]
        pkey = ti["pkey"]
        g = RefGraphlet(sid, t, in_flight=ti["state"] in ("RUNNING", "NEW"))
        # upstream, and the clean (no other training execution on the way) part of it
        up = set(nx.descendants(_walk_graph(sid, t, up_edges), t)) | {t}
        clean = {t}
        stack = [t]
        while stack:
            x = stack.pop()
            for p in up_edges(sid, x):
                if p not in clean and not info[(sid, p)]["train_cat"]:
                    clean.add(p)
                    stack.append(p)
        # downstream
        down = {t}
        stack = [t]
        while stack:
            x = stack.pop()
            for a in outputs.get((sid, x), ()):
                for c, keys in consumers.get((sid, pkey, a), {}).items():
                    ci = info[(sid, c)]
                    key = pair_key(keys)
                    if c == t or c in down:
                        continue
                    if rules.exclude_other_trainers and ci["train_cat"]:
                        continue
                    if key is not None and key in rules.excluded_keys:
                        continue
                    if (sid, c) in newest and newest[(sid, c)] != t:
                        continue
                    down.add(c)
                    stack.append(c)
        for x in up:
            g.executions[x] = "anchor" if x == t else "upstream"
        for x in down - up:
            g.executions[x] = "downstream"
        clean_arts: set[int] = set()
        for x in up:
            if info[(sid, x)]["category"] == "ingest":
                continue
            for a in inputs.get((sid, x), {}):
                role = "boundary" if (sid, pkey, a) in boundary else "upstream"
                if g.artifacts.get(a) != "boundary":
                    g.artifacts[a] = role
                if role == "upstream" and x in clean:
                    clean_arts.add(a)
        for x in down:
            for a in outputs.get((sid, x), ()):
                g.artifacts.setdefault(a, "downstream")
        # side branches
        changed = rules.include_side_branches
        while changed:
            changed = False
            usable = {a for a, role in g.artifacts.items() if role != "boundary"}
            for (csid, c), ins in inputs.items():
                ci = info[(csid, c)]
                if csid != sid or ci["pkey"] != pkey or c in g.executions or not ins:
                    continue
                if rules.exclude_other_trainers and ci["train_cat"]:
                    continue
                if (csid, c) in feeds or not set(ins) <= usable:
                    continue
                g.executions[c] = "side"
                for a in outputs.get((sid, c), ()):
                    g.artifacts.setdefault(a, "side")
                changed = True
        # push
        push_times = []
        for x in g.executions:
            xi = info[(sid, x)]
            if xi["category"] != rules.deploy_category:
                continue
            outs = outputs.get((sid, x), set())
            for a in outs:
                if flagged.get((sid, a)):
                    push_times.append(
                        min(
                            info[(sid, p)]["end_time"]
                            for p in producers[(sid, pkey, a)]
                            if info[(sid, p)]["category"] == rules.deploy_category
                        )
                    )
            if (
                rules.deploy_on_complete
                and xi["state"] == "COMPLETE"
                and not any((sid, a) in flagged for a in outs)
            ):
                push_times.append(xi["end_time"])
        g.deployed = bool(push_times)
        g.push_time = min(push_times) if push_times else None
        g.input_spans = sorted(
            {
                int(arts[(sid, a)]["span"])
                for a in clean_arts
                if arts[(sid, a)]["type_name"] == "Examples"
                and not _missing(arts[(sid, a)]["span"])
            }
        )
        # depth: longest chain of member executions through member artifacts
        dag = nx.DiGraph()
        dag.add_nodes_from(g.executions)
        for x in g.executions:
            for a in outputs.get((sid, x), ()):
                if a not in g.artifacts:
                    continue
                for c in consumers.get((sid, pkey, a), {}):
                    if c in g.executions and c != x:
                        dag.add_edge(x, c)
        g.depth = nx.dag_longest_path_length(dag) + 1
        result[(sid, t)] = g
    # costs, with each execution's cost split among the graphlets holding it
    holders: dict[tuple[int, int], int] = defaultdict(int)
    for g in result.values():
        for x in g.executions:
            holders[(g.source_id, x)] += 1
    for g in result.values():
        g.own_cost = sum(costs[(g.source_id, x)] for x in g.executions)
        g.split_cost = sum(
            costs[(g.source_id, x)] / holders[(g.source_id, x)] for x in g.executions
        )
    return result


def _walk_graph(sid: int, start: int, step: Any) -> nx.DiGraph:
    """The graph of everything ``step`` reaches from ``start`` (edges consumer -> producer)."""
    graph = nx.DiGraph()
    graph.add_node(start)
    stack, seen = [start], {start}
    while stack:
        x = stack.pop()
        for p in step(sid, x):
            graph.add_edge(x, p)
            if p not in seen:
                seen.add(p)
                stack.append(p)
    return graph


def assert_matches_reference(store: ProvenanceStore, rules: GraphletRules | None = None) -> int:
    """Build with ``rules`` and assert every graphlet equals the reference's; return the count.

    Compares membership with roles, deployed and push time, in-flight, input spans, depth,
    member counts, shared_by and both costs.
    """
    from mlprov.graphlets import build_graphlets

    rules = rules or GraphletRules()
    build_graphlets(store, rules, incremental=False)
    ref = reference_graphlets(store, rules)
    rows = {
        (r["source_id"], r["graphlet_id"]): r
        for r in store.df("SELECT * FROM graphlets").to_dict("records")
    }
    got: dict[tuple[int, int], tuple[dict[int, str], dict[int, str]]] = {}
    shared: dict[tuple[int, str, int], int] = {}
    for m in store.df("SELECT * FROM graphlet_members").to_dict("records"):
        key = (m["source_id"], m["graphlet_id"])
        got.setdefault(key, ({}, {}))[0 if m["node_kind"] == "execution" else 1][m["node_id"]] = m[
            "role"
        ]
        shared[(m["source_id"], m["node_kind"], m["node_id"])] = m["shared_by"]
    assert set(rows) == set(ref), f"graphlets differ: {set(rows) ^ set(ref)}"
    holders: dict[tuple[int, str, int], int] = defaultdict(int)
    for key, g in ref.items():
        row = rows[key]
        executions, artifacts = got.get(key, ({}, {}))
        assert executions == g.executions, (key, executions, g.executions)
        assert artifacts == g.artifacts, (key, artifacts, g.artifacts)
        assert bool(row["deployed"]) == g.deployed, key
        assert _missing(row["push_time"]) == (g.push_time is None), key
        if g.push_time is not None:
            assert row["push_time"] == g.push_time, key
        assert bool(row["in_flight"]) == g.in_flight, key
        assert list(row["input_spans"]) == g.input_spans, key
        assert row["depth"] == g.depth, key
        assert (row["n_executions"], row["n_artifacts"]) == (
            len(g.executions),
            len(g.artifacts),
        ), key
        assert abs(row["own_cost"] - g.own_cost) <= 1e-9 * max(1.0, g.own_cost), key
        assert abs(row["split_cost"] - g.split_cost) <= 1e-9 * max(1.0, g.split_cost), key
        for x in g.executions:
            holders[(key[0], "execution", x)] += 1
        for a in g.artifacts:
            holders[(key[0], "artifact", a)] += 1
    assert shared == dict(holders)
    return len(ref)
