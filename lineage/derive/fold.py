"""Folding events into the graph's state, independent of their order (pure: no database).

Every piece of derived state is a join-semilattice: `join` is commutative, associative and idempotent, so
folding the same set of events in any order, with any duplicates, gives the same result. The database layer
(`lineage.derive.store`) reads the stored state of each touched node, joins the batch's delta into it and writes
back what changed.

The rules: a facet takes the value of the event with the greatest stamp (event time, then event hash); first
and last seen are minima and maxima; a run's state comes from its greatest (rank, stamp), where a terminal
event (COMPLETE, FAIL, ABORT) outranks START and RUNNING; inputs and outputs are unions, so an event without
datasets never removes what another event of the run recorded.

Who sent an event limits what it may change: an event sent with a namespace-limited token (its `scope`, kept on
the raw event) still makes the nodes and edges it names in any namespace (a job in `airflow` legitimately
writes a table in `postgres://warehouse:5432`), but changes the metadata only of nodes in its scope. Of a
dataset elsewhere it applies no facets, no input or output facets, no version and no column lineage (the
output's `columnLineage` facet is that dataset's metadata); of a job elsewhere, no `parent` link to it.

A run is named by its `runId` alone, so a limited event could name the run of a job elsewhere. Every event of a
run claims it for its job's namespace (`RunState.claims`, the union); an event contributes to the run (state,
times, facets, inputs and outputs, the owning job) only if its scope allows every namespace claimed. An
unlimited event always does; a limited one naming a run another namespace's job also claims contributes
nothing to it, and counts as a JobEvent of its own job (edges, its own datasets' metadata). The decision
depends on the whole set of claims, not on which event came first: `fold` gathers them before adding.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lineage.openlineage import TERMINAL_EVENTS, ColumnEdge, ParsedEvent, column_edges, dataset_version_id, parent_of

Key = tuple[str, str]  # (namespace, name)


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _max(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


@dataclass
class Facets:
    values: dict[str, Any] = field(default_factory=dict)
    stamps: dict[str, str] = field(default_factory=dict)

    def add(self, facets: dict[str, Any], stamp: str) -> None:
        for key, value in facets.items():
            if stamp > self.stamps.get(key, ""):
                self.values[key] = value
                self.stamps[key] = stamp

    def join(self, other: "Facets") -> None:
        for key, stamp in other.stamps.items():
            if stamp > self.stamps.get(key, ""):
                self.values[key] = other.values[key]
                self.stamps[key] = stamp


@dataclass
class Span:
    first: datetime | None = None
    last: datetime | None = None

    def add(self, moment: datetime) -> None:
        self.first = _min(self.first, moment)
        self.last = _max(self.last, moment)

    def join(self, other: "Span") -> None:
        self.first = _min(self.first, other.first)
        self.last = _max(self.last, other.last)


@dataclass
class NodeState:
    """A dataset, or the facets and span of a namespace."""

    span: Span = field(default_factory=Span)
    facets: Facets = field(default_factory=Facets)

    def join(self, other: "NodeState") -> None:
        self.span.join(other.span)
        self.facets.join(other.facets)


@dataclass
class JobState(NodeState):
    parent: Key | None = None
    parent_stamp: str = ""

    def set_parent(self, parent: Key | None, stamp: str) -> None:
        if stamp > self.parent_stamp:
            self.parent, self.parent_stamp = parent, stamp

    def join(self, other: "JobState") -> None:
        super().join(other)
        self.set_parent(other.parent, other.parent_stamp)


@dataclass
class RunState(NodeState):
    job: Key | None = None
    job_stamp: str = ""
    # The namespaces of the jobs of every event naming the run, those that contribute to it or not.
    claims: frozenset[str] = frozenset()
    # Of a run no event contributes to (limited events of two namespaces claim it), so that it still has a row
    # keeping its claims: the first claiming job by name (neither sender's stamps, which it chooses, nor which
    # came first), and when it was claimed.
    claimant: Key | None = None
    claimed: Span = field(default_factory=Span)
    state: str = "NEW"
    state_key: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None

    def set_job(self, job: Key, stamp: str) -> None:
        if stamp > self.job_stamp:
            self.job, self.job_stamp = job, stamp

    def claim(self, job: Key, moment: datetime) -> None:
        self.claims = self.claims | {job[0]}
        self.claimed.add(moment)
        if self.claimant is None or job < self.claimant:
            self.claimant = job

    def add_transition(self, event: ParsedEvent) -> None:
        state = event.state
        if state is None:
            return
        if event.event_type in ("START", "RUNNING"):
            self.started_at = _min(self.started_at, event.event_time)
        rank = 2 if event.event_type in TERMINAL_EVENTS else 1
        key = f"{rank}|{event.stamp}"
        if key > self.state_key:
            self.state, self.state_key = state, key
            self.ended_at = event.event_time if rank == 2 else None

    def join(self, other: "RunState") -> None:
        super().join(other)
        self.set_job(other.job, other.job_stamp)
        self.claims = self.claims | other.claims
        self.claimed.join(other.claimed)
        if other.claimant is not None and (self.claimant is None or other.claimant < self.claimant):
            self.claimant = other.claimant
        self.started_at = _min(self.started_at, other.started_at)
        if other.state_key > self.state_key:
            self.state, self.state_key, self.ended_at = other.state, other.state_key, other.ended_at


@dataclass
class UseState:
    """A run's use of a dataset: when first seen, and the input/output facets."""

    first: datetime | None = None
    facets: Facets = field(default_factory=Facets)

    def join(self, other: "UseState") -> None:
        self.first = _min(self.first, other.first)
        self.facets.join(other.facets)


@dataclass
class VersionState(NodeState):
    run_id: str = ""

    def join(self, other: "VersionState") -> None:
        super().join(other)
        self.run_id = self.run_id or other.run_id


@dataclass
class ColumnState:
    span: Span = field(default_factory=Span)
    stamp: str = ""
    transformations: list[dict[str, Any]] = field(default_factory=list)
    job: Key | None = None

    def join(self, other: "ColumnState") -> None:
        self.span.join(other.span)
        if other.stamp > self.stamp:
            self.stamp, self.transformations, self.job = other.stamp, other.transformations, other.job


@dataclass
class Delta:
    """What a batch of events says, keyed by natural identities."""

    namespaces: dict[str, Span] = field(default_factory=dict)
    datasets: dict[Key, NodeState] = field(default_factory=dict)
    jobs: dict[Key, JobState] = field(default_factory=dict)
    runs: dict[str, RunState] = field(default_factory=dict)
    run_datasets: dict[tuple[str, Key, str], UseState] = field(default_factory=dict)
    job_edges: dict[tuple[Key, Key, str], Span] = field(default_factory=dict)
    versions: dict[tuple[Key, str], VersionState] = field(default_factory=dict)
    columns: dict[tuple[Key, str, Key, str], ColumnState] = field(default_factory=dict)

    def _namespace(self, name: str, moment: datetime) -> None:
        self.namespaces.setdefault(name, Span()).add(moment)

    def _dataset(self, key: Key, moment: datetime) -> NodeState:
        self._namespace(key[0], moment)
        state = self.datasets.setdefault(key, NodeState())
        state.span.add(moment)
        return state

    def _job(self, key: Key, moment: datetime) -> JobState:
        self._namespace(key[0], moment)
        state = self.jobs.setdefault(key, JobState())
        state.span.add(moment)
        return state

    def add(
        self, event: ParsedEvent, scope: frozenset[str] | None = None, claims: frozenset[str] | None = None
    ) -> None:
        """Fold one event in. `scope`: the namespaces whose metadata it may change, None for all. `claims`: the
        namespaces of the jobs of all the events naming its run (default: its own job's); see `fold`."""
        moment, stamp = event.event_time, event.stamp

        def may_change(namespace: str) -> bool:
            return scope is None or namespace in scope

        if event.kind == "dataset":
            use = event.dataset
            node = self._dataset(use.key, moment)
            if not may_change(use.namespace):
                return
            node.facets.add(use.facets, stamp)
            if use.facets:
                version = self.versions.setdefault(
                    (use.key, str(dataset_version_id(*use.key, event.digest))), VersionState()
                )
                version.span.add(moment)
                version.facets.add(use.facets, stamp)
            return

        own = may_change(event.job[0])
        job = self._job(event.job, moment)
        if own:
            job.facets.add(event.job_facets, stamp)
        in_run = event.kind == "run"
        if in_run:
            claimed = (claims or frozenset()) | {event.job[0]}
            run = self.runs.setdefault(event.run_id, RunState())
            run.claim(event.job, moment)
            # A run another namespace's job claims is not this event's to change: it counts as a JobEvent.
            in_run = contributes(scope, claimed)
        if in_run:
            run_facets = event.run_facets if own else {}
            parent_job, _ = parent_of(run_facets)
            if parent_job is not None and not may_change(parent_job[0]):
                # Linking a task under a job elsewhere would put it in that job's DAG, its runs and its impact.
                run_facets = {key: value for key, value in run_facets.items() if key != "parent"}
                parent_job = None
            if parent_job is not None:
                self._job(parent_job, moment)
            if "parent" in run_facets:
                job.set_parent(parent_job, stamp)
            run.span.add(moment)
            run.facets.add(run_facets, stamp)
            run.set_job(event.job, stamp)
            run.add_transition(event)

        for direction, uses in (("in", event.inputs), ("out", event.outputs)):
            for use in uses:
                mine = may_change(use.namespace)
                node = self._dataset(use.key, moment)
                if mine:
                    node.facets.add(use.facets, stamp)
                self.job_edges.setdefault((event.job, use.key, direction), Span()).add(moment)
                if in_run:
                    run_use = self.run_datasets.setdefault((event.run_id, use.key, direction), UseState())
                    run_use.first = _min(run_use.first, moment)
                    if mine:
                        # Input and output facets (quality assertions, statistics) show on the dataset's page.
                        run_use.facets.add(use.io_facets, stamp)
                if direction == "out" and mine:
                    self._add_output(event, use, in_run)

    def _add_output(self, event: ParsedEvent, use, in_run: bool) -> None:
        moment, stamp = event.event_time, event.stamp
        discriminator = event.run_id if in_run else event.digest
        version = self.versions.setdefault((use.key, str(dataset_version_id(*use.key, discriminator))), VersionState())
        version.span.add(moment)
        version.facets.add(use.facets, stamp)
        version.run_id = event.run_id if in_run else ""
        edge: ColumnEdge
        for edge in column_edges(use.facets):
            self._dataset(edge.input, moment)
            column = ColumnState(
                span=Span(moment, moment),
                stamp=stamp,
                transformations=list(edge.transformations),
                job=event.job,
            )
            key = (use.key, edge.output_field, edge.input, edge.input_field)
            if key in self.columns:
                self.columns[key].join(column)
            else:
                self.columns[key] = column


def contributes(scope: frozenset[str] | None, claims: frozenset[str]) -> bool:
    """Whether an event sent with `scope` (None: unlimited) changes a run that `claims` claim."""
    return scope is None or claims <= scope


def run_claims(events: list[ParsedEvent]) -> dict[str, frozenset[str]]:
    """{run id: the namespaces of the jobs of the events naming it}."""
    claims: dict[str, frozenset[str]] = {}
    for event in events:
        if event.kind == "run":
            claims[event.run_id] = claims.get(event.run_id, frozenset()) | {event.job[0]}
    return claims


def fold(
    events: list[ParsedEvent],
    *,
    scopes: dict[str, frozenset[str]] | None = None,
    claims: dict[str, frozenset[str]] | None = None,
) -> Delta:
    """The delta of `events`. `scopes` maps an event's digest to the namespaces whose metadata it may change;
    an event not in it may change everything. `claims`: namespaces claiming runs besides those of `events`
    (the stored runs'); the claims of all the events are gathered first, so the order does not matter."""
    delta = Delta()
    scopes = scopes or {}
    gathered = run_claims(events)
    for run_id, namespaces in (claims or {}).items():
        gathered[run_id] = gathered.get(run_id, frozenset()) | namespaces
    for event in events:
        delta.add(event, scopes.get(event.digest), gathered.get(event.run_id) if event.kind == "run" else None)
    for run_id, run in delta.runs.items():
        run.claims = gathered[run_id]  # what the decisions assumed: the store checks it still holds
    return delta
