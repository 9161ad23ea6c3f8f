"""The daily feature build without starting dbt: a recorded plan of dbt's own SQL, replayed.

dbt's import, start-up and parse cost more than the 3 s a one-session incremental build may take
(issue 9, item 10), so the daily path runs the SQL dbt itself sent on the last such build:

* **Record.** When :func:`tradewind.features.runner.build` runs the incremental build of
  everything on a built warehouse (the seed unchanged, the data tests scoped), a
  :class:`Recorder` passed to ``dbtRunner(callbacks=[...])`` collects dbt's events: every
  ``SQLQuery`` (its SQL, the node it ran for), every ``Rollback``, each node's start (the order
  dbt started the nodes in: a node starts only after its parents finished, so the order respects
  the dependencies) and finish. From a successful run it builds a :class:`Plan`: per node its
  statements in order, for a data test which statement returns (failures, should_warn,
  should_error) and the test's severity.
* **Validity.** A plan is used only while its fingerprint (:func:`fingerprint_parts`) matches:
  the hash of every file of the dbt project that dbt reads, the versions of dbt-core,
  dbt-adapters, dbt-common and dbt-postgres, the dbt arguments and vars, the profile target
  without the password, dbt's ``DBT_*`` flags from the environment, the columns and kind of every
  relation in the schemas dbt builds into (what dbt's relation cache, ``is_incremental()``,
  ``get_columns_in_relation`` and ``persist_docs`` see) and whether the timescaledb extension is
  installed (macro ``use_timescale`` asks with ``run_query``; the only compile-time query of the
  project). A project file that starts another compile-time query (:data:`INTROSPECTION`) stops
  plans from being recorded at all, since its answer would not be in the fingerprint.
* **Storage.** In the warehouse (migration 070, ``ops.feature_build_plan``, one row): the SQL
  names the database, so a plan belongs to the warehouse it was recorded on, and any process
  that can reach the warehouse (an Airflow worker elsewhere) finds it. dbt's SQL and hashes only:
  no password or key is in it.
* **Replay** (:func:`replay`): one psycopg connection, the nodes in the recorded order, each
  node's statements as recorded and with dbt-postgres's transactions exactly: dbt-postgres sends
  no BEGIN; psycopg2 (its driver) sends one before a statement while it believes no transaction
  is open, i.e. on the node's first statement and after a rollback. dbt's ``COMMIT`` is plain
  SQL that psycopg2 does not notice, so what follows it in the node (the table
  materialization's ``drop ... __dbt_backup cascade``) runs outside a transaction and commits
  at once. dbt then closes the node's connection, which rolls back an open transaction. The
  replay does the same and then ``DISCARD ALL`` (a fresh session for the next node: temp tables,
  settings). Everything that writes runs one node at a time in the recorded order on one
  session; only a run of consecutive read-only data tests (one SELECT each, all their parents
  already done) is spread over a second session, as dbt's two threads would run them. dbt-postgres names temporary relations with a timestamp suffix
  (``daily_features__dbt_tmp164940634455``); replaying the same names is fine: they are
  temporary, live within the node's session and are discarded with it. A data test is judged
  like dbt's TestRunner: error severity and should_error fails the build, should_warn prints a
  warning. A SQL error rolls the node back and fails the build naming the node. The first failure
  stops the replay (dbt would go on with the nodes that do not depend on it; the build fails
  either way and the next one redoes the work).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

PLAN_TABLE = "ops.feature_build_plan"  # migration 070
# Bump when the plan's layout or the replay's semantics change: older plans become stale.
PLAN_FORMAT = 2
DBT_DISTRIBUTIONS = ("dbt-core", "dbt-adapters", "dbt-common", "dbt-postgres")
# Folders of the project dbt writes rather than reads.
NOT_READ = {"target", "logs", "__pycache__"}
# Jinja that asks the warehouse something while compiling: its answer shapes the SQL. Each such
# file must be covered by a part of the fingerprint (COVERED) or no plan is recorded.
INTROSPECTION = re.compile(
    r"\brun_query\s*\(|\bload_result\s*\(|\bstatement\s*\(|\bget_column_values\b|"
    r"\bget_query_results_as_dict\b|\badapter\s*\.\s*(?:get_columns_in_relation|get_relation|"
    r"execute|get_missing_columns|list_relations)\b"
)
COVERED = {"macros/time_bucket.sql": "timescaledb installed (warehouse part)"}
ROLLBACK = "ROLLBACK"  # a Rollback event of dbt, kept in line with the statements
_TEST_RESULT = re.compile(r"\bas\s+should_error\b", re.IGNORECASE)
_SHAPE_SQL = """
select n.nspname, c.relname, c.relkind::text, a.attnum, a.attname::text,
       format_type(a.atttypid, a.atttypmod)
from pg_catalog.pg_namespace as n
join pg_catalog.pg_class as c on c.relnamespace = n.oid and c.relkind in ('r', 'p', 'v', 'm', 'f')
left join pg_catalog.pg_attribute as a
    on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where n.nspname = any(%s)
order by 1, 2, 4
"""


class PlanError(RuntimeError):
    """A plan cannot be recorded from this run (the reason is the message)."""


@dataclass
class PlanNode:
    unique_id: str
    name: str
    resource_type: str  # as BuildResult.nodes gives it (dbt's NodeType as text)
    description: str  # what the progress line names: "view model features_staging.x", a test
    status: str  # dbt's status in the recorded run (success, pass, warn)
    statements: list[str] = field(default_factory=list)
    result_index: int | None = None  # data tests: the statement returning the test's row
    severity: str | None = None
    warn_if: str | None = None
    error_if: str | None = None


@dataclass
class Plan:
    fingerprint: str
    parts: dict[str, str]
    schemas: list[str]
    dbt_version: str
    prelude: list[list[str]]  # per dbt connection before the first node (cache queries)
    nodes: list[PlanNode]
    epilogue: list[list[str]] = field(default_factory=list)
    format: int = PLAN_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping) -> Plan:
        nodes = [PlanNode(**n) for n in data["nodes"]]
        return cls(**{**data, "nodes": nodes})


# --- fingerprint ---------------------------------------------------------------------------


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def project_files(project_dir: Path, skip: Sequence[Path] = ()) -> dict[str, str]:
    """sha256 of every file of the dbt project dbt may read (everything but its own output:
    target/, logs/, a target path inside the project), by path relative to the project."""
    skip = [p.resolve() for p in skip]
    out = {}
    for path in sorted(project_dir.rglob("*")):
        rel = path.relative_to(project_dir)
        if not path.is_file() or any(p in NOT_READ or p.startswith(".") for p in rel.parts):
            continue
        if any(path.resolve().is_relative_to(s) for s in skip):
            continue
        out[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def uncovered_introspection(project_dir: Path) -> list[str]:
    """Project files whose Jinja queries the warehouse at compile time and whose answer the
    fingerprint does not cover (dbt's own SQL for them could differ on the same files)."""
    found = []
    for rel in project_files(project_dir):
        if rel.endswith((".sql", ".yml", ".yaml")) and rel not in COVERED:
            if INTROSPECTION.search((project_dir / rel).read_text(errors="replace")):
                found.append(rel)
    return found


def dbt_versions() -> dict[str, str]:
    out = {}
    for dist in DBT_DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def schema_shapes(conn, schemas: Sequence[str]) -> dict[str, str | None]:
    """Per schema: a hash of its relations (name, kind, columns with types in order); None when
    the schema does not exist (dbt would create it)."""
    rows = conn.execute(_SHAPE_SQL, [list(schemas)]).fetchall()
    by_schema: dict[str, list] = {}
    for row in rows:
        by_schema.setdefault(row[0], []).append(row[1:])
    exists = {
        r[0]
        for r in conn.execute(
            "select nspname::text from pg_catalog.pg_namespace where nspname = any(%s)",
            [list(schemas)],
        )
    }
    return {s: (_digest(by_schema.get(s, [])) if s in exists else None) for s in schemas}


def timescale_installed(conn) -> bool:
    return conn.execute(
        "select exists (select from pg_catalog.pg_extension where extname = 'timescaledb')"
    ).fetchone()[0]


def user_schemas(conn) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select nspname::text from pg_catalog.pg_namespace where nspname !~ '^pg_' "
            "and nspname <> 'information_schema' and nspname !~ '^_timescaledb' order by 1"
        )
    ]


@dataclass
class Inputs:
    """Everything but the warehouse that dbt's SQL depends on, for one build."""

    project_dir: Path
    args: list[str]
    vars: dict
    profile: dict[str, str]  # the profile's environment without the password
    dbt_flags: dict[str, str]  # DBT_* environment variables that set dbt flags
    skip: list[Path] = field(default_factory=list)  # a target path inside the project

    def parts(self) -> dict[str, str]:
        return {
            "format": str(PLAN_FORMAT),
            "project files": _digest(project_files(self.project_dir, self.skip)),
            "dbt versions": _digest(dbt_versions()),
            "dbt arguments": _digest(self.args),
            "vars": _digest(self.vars),
            "profile target": _digest(self.profile),
            "dbt flags": _digest(self.dbt_flags),
        }


def fingerprint_parts(
    inputs: Inputs, shapes: Mapping[str, str | None], timescale: bool
) -> dict[str, str]:
    return {
        **inputs.parts(),
        "relations": _digest(dict(sorted(shapes.items()))),
        "timescaledb": str(timescale),
    }


def fingerprint_of(parts: Mapping[str, str]) -> str:
    return _digest(dict(parts))


# --- record -------------------------------------------------------------------------------


class Recorder:
    """A dbtRunner callback collecting the SQL dbt sends and the nodes it runs (thread-safe:
    dbt fires events from its worker threads)."""

    WANTED = {"SQLQuery", "Rollback", "NodeStart", "NodeFinished"}

    def __init__(self, inputs: Inputs, conn_url: str):
        from tradewind.db import connect

        self.inputs = inputs
        self._lock = threading.Lock()
        self.prelude: dict[str, list[str]] = {}  # by dbt connection, in order of first use
        self.epilogue: dict[str, list[str]] = {}
        self.order: list[str] = []
        self.nodes: dict[str, dict] = {}
        self.finished = 0
        # What dbt sees at its start, for every schema it may build into (known after the run).
        with connect(conn_url) as conn:
            self.shapes = schema_shapes(conn, user_schemas(conn))
            self.timescale = timescale_installed(conn)

    def __call__(self, msg) -> None:
        name = msg.info.name
        if name not in self.WANTED:
            return
        data = msg.data
        info = data.node_info
        uid = info.unique_id
        with self._lock:
            if name == "NodeStart":
                rel = info.node_relation
                self.order.append(uid)
                self.nodes[uid] = {
                    "name": info.node_name,
                    "type": info.resource_type,
                    "materialized": info.materialized,
                    "relation": f"{rel.schema}.{rel.alias}" if rel.schema else "",
                    "schema": rel.schema,
                    "statements": [],
                }
                return
            if name == "NodeFinished":
                self.finished += 1
                return
            text = data.sql if name == "SQLQuery" else ROLLBACK
            node = self.nodes.get(uid) or self.nodes.get(data.conn_name)
            if node is not None:
                node["statements"].append(text)
            else:
                outside = self.epilogue if self.order else self.prelude
                outside.setdefault(data.conn_name, []).append(text)

    def plan(self, results) -> Plan:
        """The plan of this successful run; ``results`` are dbt's RunResults."""
        uncovered = uncovered_introspection(self.inputs.project_dir)
        if uncovered:
            raise PlanError(f"{', '.join(uncovered)} query the warehouse while compiling")
        by_id = {r.node.unique_id: r for r in results}
        if set(by_id) != set(self.order) or self.finished != len(self.order):
            raise PlanError("dbt's events and results name different nodes")
        nodes, schemas = [], set()
        for uid in self.order:
            seen, r = self.nodes[uid], by_id[uid]
            kind = seen["type"]
            if kind in ("seed", "unit_test", "snapshot"):
                # A seed's rows go as bindings, which dbt's events do not carry.
                raise PlanError(f"a {kind} ran ({seen['name']})")
            if kind == "model":
                schemas.add(seen["schema"])
                description = f"{seen['materialized']} model {seen['relation']}"
            else:
                description = f"{kind} {seen['name']}"
            node = PlanNode(
                unique_id=uid,
                name=seen["name"],
                resource_type=str(r.node.resource_type),
                description=description,
                status=str(r.status),
                statements=list(seen["statements"]),
            )
            if kind == "test":
                idx = [i for i, s in enumerate(node.statements) if _TEST_RESULT.search(s)]
                if len(idx) != 1:
                    raise PlanError(f"test {node.name}: no single result statement")
                cfg = r.node.config
                node.result_index = idx[0]
                node.severity = str(cfg.severity).upper()
                node.warn_if, node.error_if = str(cfg.warn_if), str(cfg.error_if)
            nodes.append(node)
        shapes = {s: self.shapes.get(s) for s in sorted(schemas)}
        parts = fingerprint_parts(self.inputs, shapes, self.timescale)
        return Plan(
            fingerprint=fingerprint_of(parts),
            parts=parts,
            schemas=sorted(schemas),
            dbt_version=dbt_versions()["dbt-core"],
            prelude=list(self.prelude.values()),
            nodes=nodes,
            epilogue=list(self.epilogue.values()),
        )


def save(url: str, plan: Plan) -> bool:
    """Store ``plan`` as the warehouse's plan; False when the warehouse has no migration 070."""
    import psycopg

    from tradewind.db import connect

    try:
        with connect(url) as conn:
            conn.execute(
                f"insert into {PLAN_TABLE} (fingerprint, dbt_version, nodes, plan) "
                "values (%s, %s, %s, %s::jsonb) on conflict (only_row) do update set "
                "fingerprint = excluded.fingerprint, dbt_version = excluded.dbt_version, "
                "nodes = excluded.nodes, plan = excluded.plan, recorded_at = now()",
                [plan.fingerprint, plan.dbt_version, len(plan.nodes), plan.to_json()],
            )
    except psycopg.errors.UndefinedTable:
        return False
    return True


def forget(url: str) -> None:
    """Drop the warehouse's plan (the next build runs dbt and records a new one)."""
    import psycopg

    from tradewind.db import connect

    with connect(url) as conn:
        try:
            conn.execute(f"delete from {PLAN_TABLE}")
        except psycopg.errors.UndefinedTable:
            pass


def load_valid(url: str, inputs: Inputs) -> tuple[Plan | None, str]:
    """The warehouse's plan when its fingerprint matches ``inputs`` and the warehouse now, else
    None; with the reason (which parts changed) for the progress output."""
    import psycopg

    from tradewind.db import connect

    with connect(url) as conn:
        try:
            row = conn.execute(
                f"select fingerprint, plan -> 'parts', plan -> 'schemas' from {PLAN_TABLE}"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None, f"no {PLAN_TABLE} (migration 070 not applied)"
        if row is None:
            return None, "no plan recorded yet"
        stored, stored_parts, schemas = row
        parts = fingerprint_parts(inputs, schema_shapes(conn, schemas), timescale_installed(conn))
        if fingerprint_of(parts) != stored:
            changed = sorted(k for k in parts if parts[k] != (stored_parts or {}).get(k))
            return None, f"plan is stale ({', '.join(changed) or 'fingerprint'} changed)"
        data = conn.execute(f"select plan from {PLAN_TABLE}").fetchone()[0]
    try:
        return Plan.from_dict(data), "plan valid"
    except (TypeError, KeyError, AttributeError) as exc:  # edited by hand: dbt rebuilds it
        return None, f"plan unreadable ({type(exc).__name__})"


# --- replay -------------------------------------------------------------------------------


@dataclass
class NodeOutcome:
    node: PlanNode
    status: str
    seconds: float
    message: str | None = None
    failures: int | None = None


def _line(text: str) -> str:
    """PostgreSQL's message on one line."""
    return " ".join(str(text).split()) or "error"


def _pluralize(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _progress(i: int, total: int, label: str, what: str, seconds: float) -> str:
    head = f"{time.strftime('%H:%M:%S')}  {i} of {total} {label} {what} "
    return f"{head}{'.' * max(3, 80 - len(head))} [{seconds:.2f}s]"


def _execute(conn, statements: Sequence[str], result_index: int | None = None):
    """One dbt connection's statements (on an autocommit psycopg connection) with the
    transactions psycopg2 gave them in dbt (module docstring); returns the row of statement
    ``result_index`` (with its column names)."""
    from psycopg.pq import TransactionStatus

    row = None
    driver_in_transaction = False  # psycopg2's own belief, not the server's state
    for k, sql in enumerate(statements):
        if sql == ROLLBACK:  # psycopg2's connection.rollback(): a no-op when it saw no BEGIN
            if driver_in_transaction:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")
                driver_in_transaction = False
            continue
        if not driver_in_transaction:
            conn.execute("BEGIN")
            driver_in_transaction = True
        if (
            sql.strip().upper() == "COMMIT"
            and conn.info.transaction_status == TransactionStatus.IDLE
        ):
            continue  # the server would only warn that no transaction is in progress
        cur = conn.execute(sql)
        if k == result_index:
            names = [d.name for d in cur.description]
            row = dict(zip(names, cur.fetchone(), strict=True))
    return row


def _end_session(conn) -> None:
    """What closing dbt's per-node connection does: roll back, then a fresh session state."""
    from psycopg.pq import TransactionStatus

    if conn.info.transaction_status != TransactionStatus.IDLE:
        conn.execute("ROLLBACK")
    conn.execute("DISCARD ALL")


def _run_sessions(conn, sessions: Sequence[Sequence[str]]) -> None:
    """dbt's catalog queries outside any node (the plan's prelude or epilogue), one recorded
    connection after another on ``conn``."""
    for statements in sessions:
        _execute(conn, statements)
        _end_session(conn)


def _run_node(conn, node: PlanNode) -> NodeOutcome:
    """One node on ``conn`` as dbt ran it; its outcome (a SQL error is an outcome too)."""
    import psycopg

    t = time.monotonic()
    kind = node.resource_type.split(".")[-1].lower()
    try:
        row = _execute(conn, node.statements, node.result_index)
    except psycopg.Error as exc:
        _end_session(conn)
        detail = f"Database Error in {kind} {node.name}: {_line(exc)}"
        return NodeOutcome(node, "error", time.monotonic() - t, detail)
    _end_session(conn)
    seconds = time.monotonic() - t
    if node.result_index is None:
        return NodeOutcome(node, node.status, seconds)
    # dbt's TestRunner.build_test_run_result, with its default flags (no --warn-error).
    failures = int(row["failures"] or 0)
    got = _pluralize(failures, "result")
    if node.severity == "ERROR" and row["should_error"]:
        return NodeOutcome(
            node, "fail", seconds, f"Got {got}, configured to fail if {node.error_if}", failures
        )
    if row["should_warn"]:
        return NodeOutcome(
            node, "warn", seconds, f"Got {got}, configured to warn if {node.warn_if}", failures
        )
    return NodeOutcome(node, "pass", seconds, None, 0)


def _read_only_test(node: PlanNode) -> bool:
    """A data test that only selects its result (no stored failures): safe beside another."""
    return node.result_index == 0 and len(node.statements) == 1


def _steps(nodes: Sequence[PlanNode]) -> list[list[int]]:
    """The plan's node indexes in order, consecutive read-only tests grouped. Every parent of a
    test precedes it in the order, and nothing between the tests of a group writes, so a group's
    tests read the same committed state in any order or at once (dbt too runs tests in
    parallel, on its threads)."""
    steps: list[list[int]] = []
    for i, node in enumerate(nodes):
        if _read_only_test(node) and steps and _read_only_test(nodes[steps[-1][-1]]):
            steps[-1].append(i)
        else:
            steps.append([i])
    return steps


_LABELS = {"success": "OK", "pass": "PASS", "warn": "WARN", "fail": "FAIL", "error": "ERROR"}


def replay(
    plan: Plan,
    url: str,
    *,
    echo: Callable[[str], None] | None = None,
    connections: int = 2,
):
    """Run the plan's SQL against ``url``; a :class:`~tradewind.features.runner.BuildResult`,
    or :class:`~tradewind.features.runner.FeatureBuildError` naming the failing node or test.

    Models, seeds and anything that writes run one at a time in the recorded order; a run of
    consecutive read-only data tests is spread over ``connections`` sessions (dbt's default of
    two threads), reported in plan order. The first failure stops the replay after its step."""
    from concurrent.futures import ThreadPoolExecutor

    import psycopg

    from tradewind.db import WarehouseError, redact
    from tradewind.features.runner import BuildResult, FeatureBuildError

    def say(text: str) -> None:
        (echo or (lambda t: print(t, file=sys.stdout, flush=True)))(text)

    def connect():
        try:
            # prepare_threshold None: DISCARD ALL drops prepared statements psycopg would reuse.
            return psycopg.connect(url, autocommit=True, connect_timeout=10, prepare_threshold=None)
        except psycopg.OperationalError as exc:
            raise WarehouseError(f"cannot connect to {redact(url)}: {_line(exc)}") from None

    total = len(plan.nodes)
    say(f"{time.strftime('%H:%M:%S')}  Replaying the recorded dbt build plan: {total} nodes")
    t0 = time.monotonic()
    outcomes: list[NodeOutcome] = []
    failure = None
    conns = [connect()]
    try:
        conn = conns[0]
        try:
            _run_sessions(conn, plan.prelude)
        except psycopg.Error as exc:
            msg = f"dbt build (plan) failed before any node: {_line(exc)}"
            raise FeatureBuildError(msg) from None
        with ThreadPoolExecutor(max_workers=max(1, connections)) as pool:
            for step in _steps(plan.nodes):
                nodes = [plan.nodes[i] for i in step]
                if len(nodes) == 1:
                    done = [_run_node(conn, nodes[0])]
                else:
                    while len(conns) < min(connections, len(nodes)):
                        conns.append(connect())
                    lanes = conns[: min(connections, len(nodes))]
                    # Lane k takes every k-th test of the step, in order, on its own session.
                    futures = [
                        pool.submit(
                            lambda c, ns: [_run_node(c, n) for n in ns], c, nodes[k :: len(lanes)]
                        )
                        for k, c in enumerate(lanes)
                    ]
                    by_lane = [f.result() for f in futures]
                    done = [by_lane[j % len(lanes)][j // len(lanes)] for j in range(len(nodes))]
                for i, o in zip(step, done, strict=True):
                    outcomes.append(o)
                    say(
                        _progress(
                            i + 1,
                            total,
                            _LABELS.get(o.status, o.status.upper()),
                            o.node.description,
                            o.seconds,
                        )
                    )
                    if o.status == "warn":
                        say(f"  warning: {o.node.name}: {o.message}")
                    if o.status in ("fail", "error") and failure is None:
                        failure = f"dbt build failed at {o.node.name}: {o.message}"
                if failure is not None:
                    break
        if failure is None:
            try:
                _run_sessions(conn, plan.epilogue)
            except psycopg.Error as exc:
                failure = f"dbt build (plan) failed after the last node: {_line(exc)}"
    finally:
        for c in conns:
            c.close()
    elapsed = time.monotonic() - t0
    statuses: dict[str, int] = {}
    for o in outcomes:
        statuses[o.status] = statuses.get(o.status, 0) + 1
    counts = {
        k: sum(v for s, v in statuses.items() if s in group)
        for k, group in (
            ("PASS", ("pass", "success")),
            ("WARN", ("warn",)),
            ("ERROR", ("error", "fail")),
        )
    }
    say(
        f"{time.strftime('%H:%M:%S')}  Finished {len(outcomes)} of {total} nodes from the plan "
        f"in {elapsed:.2f}s. "
        + " ".join(f"{k}={v}" for k, v in counts.items())
        + f" SKIP={total - len(outcomes)} TOTAL={total}"
    )
    if failure is not None:
        raise FeatureBuildError(failure)
    nodes = [
        {
            "name": o.node.name,
            "resource_type": o.node.resource_type,
            "status": o.status,
            "message": o.message,
            "failures": o.failures,
            "execution_time": o.seconds,
        }
        for o in outcomes
    ]
    return BuildResult("build", True, elapsed, statuses, nodes, replayed=True)
