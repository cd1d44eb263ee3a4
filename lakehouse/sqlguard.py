"""Ad-hoc SQL decided by Spark itself: what runs is exactly what was checked.

Contract of :class:`SqlGuard` (used by ``lakehouse sql``, its argument mode and its prompt alike):

- Statements are split with Spark's own lexer (nested ``/* /* */ */`` comments, raw strings ``r'...'``,
  backslash-continued ``--`` comments are all Spark's business, never a regex's).
- Each statement is parsed by the session's own parser with variable substitution off
  (``spark.sql.variable.substitute=false``), so ``${env:...}`` is plain text, never a value.
- Read-only (the default): the parsed plan must be a query built only from the relational operators in
  :data:`QUERY_NODES`, or one of the inspection commands in :data:`INSPECTION_COMMANDS` (SHOW,
  DESCRIBE, EXPLAIN, USE). Anything else (DML, DDL, CALL, CACHE, SET, a node this module does not know)
  is refused; the query is then analysed and every node of the analysed plan, subqueries and views
  included, must again be a known relational operator over tables of the lakehouse's Iceberg catalogs.
- Always, ``--write`` or not: no JVM reflection (``reflect``, ``java_method`` and any alias of them),
  no ``TRANSFORM ... USING`` scripts, no path-based sources (``format.`path```; ``spark.sql.runSQLOnFiles``
  is also off), no writes outside the catalog (``INSERT OVERWRITE DIRECTORY``, ``LOAD DATA``), no
  ``ADD JAR/FILE/ARCHIVE``, no ``CREATE FUNCTION``, no change of the settings this guard relies on.
- The checked plan itself is executed (it is not re-parsed from text), and nothing is executed
  before every check passed. A refusal is one line (:class:`RefusedStatement`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse.errors import LakehouseError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Session settings every checked statement runs under (re-applied before each statement).
GUARDED_CONF = {
    "spark.sql.variable.substitute": "false",
    "spark.sql.runSQLOnFiles": "false",
}
# Settings a `SET` may never touch, even with --write: the guard's own and anything secret.
_PROTECTED_SET_KEY = re.compile(
    r"variable\.substitute|runSQLOnFiles|redaction|password|secret|credential|token|\.jdbc\.|catalog\.|"
    r"extensions|spark\.jars|spark\.sql\.legacy",
    re.IGNORECASE,
)

_LOGICAL = "org.apache.spark.sql.catalyst.plans.logical."
_ANALYSIS = "org.apache.spark.sql.catalyst.analysis."
_COMMAND = "org.apache.spark.sql.execution.command."
_V2 = "org.apache.spark.sql.execution.datasources.v2."

# Relational operators a read-only query may consist of (parsed or analysed). Anything not listed is
# refused: a new Spark or Iceberg node has to be looked at before it is allowed.
QUERY_NODES = frozenset(
    [_LOGICAL + n for n in (
        "Project", "Filter", "Aggregate", "Join", "LateralJoin", "Sort", "GlobalLimit", "LocalLimit",
        "Offset", "Tail", "Window", "WithWindowDefinition", "Union", "Intersect", "Except", "Distinct",
        "Deduplicate", "SubqueryAlias", "UnresolvedWith", "WithCTE", "CTERelationDef", "CTERelationRef",
        "Generate", "Expand", "Pivot", "Unpivot", "Sample", "OneRowRelation", "LocalRelation", "Range",
        "Repartition", "RepartitionByExpression", "RebalancePartitions", "UnresolvedHint", "ResolvedHint",
        "View", "Subquery",
    )]
    + [_ANALYSIS + n for n in (
        "UnresolvedRelation", "RelationTimeTravel", "UnresolvedHaving", "UnresolvedInlineTable",
        "UnresolvedTableValuedFunction", "UnresolvedTVFAliases", "UnresolvedSubqueryColumnAliases",
        "PlanWithUnresolvedIdentifier",
    )]
    + [_V2 + "DataSourceV2Relation"]
)

# Commands that only inspect. EXPLAIN and DESCRIBE QUERY carry a query: it is checked like any query.
INSPECTION_COMMANDS = frozenset(
    [_LOGICAL + n for n in (
        "ShowTables", "ShowTablesExtended", "ShowNamespaces", "ShowColumns", "ShowCreateTable",
        "ShowTableProperties", "ShowFunctions", "ShowPartitions", "ShowViews", "ShowIcebergViews",
        "DescribeRelation", "DescribeColumn", "DescribeNamespace", "DescribeFunction", "SetCatalogAndNamespace",
    )]
    + [_COMMAND + n for n in (
        "ExplainCommand", "DescribeQueryCommand", "ShowCatalogsCommand", "ShowCurrentNamespaceCommand",
    )]
)

# Refused in every mode, wherever they appear in the plan.
_ALWAYS_REFUSED_NODES = {
    _LOGICAL + "ScriptTransformation": "TRANSFORM ... USING runs a shell command",
    _LOGICAL + "InsertIntoDir": "INSERT OVERWRITE DIRECTORY writes files outside the catalog",
    _COMMAND + "InsertIntoDataSourceDirCommand": "INSERT OVERWRITE DIRECTORY writes files outside the catalog",
    _COMMAND + "LoadDataCommand": "LOAD DATA reads files outside the catalog",
    _LOGICAL + "LoadData": "LOAD DATA reads files outside the catalog",
    _COMMAND + "AddJarsCommand": "ADD JAR loads code into the JVM",
    _COMMAND + "AddFilesCommand": "ADD FILE ships local files",
    _COMMAND + "AddArchivesCommand": "ADD ARCHIVE ships local files",
    _LOGICAL + "CreateFunction": "CREATE FUNCTION loads JVM classes",
    _COMMAND + "CreateFunctionCommand": "CREATE FUNCTION loads JVM classes",
    _COMMAND + "ResetCommand": "RESET would undo the settings ad-hoc SQL runs under",
}
# Functions that call arbitrary static JVM methods; the analysed-plan check catches any other alias.
REFLECTION_FUNCTIONS = frozenset({"reflect", "java_method", "try_reflect"})
_REFLECTION_EXPRESSIONS = ("CallMethodViaReflection", "TryReflect")


class RefusedStatement(LakehouseError):
    """A statement ad-hoc SQL will not run (one line says why)."""


@dataclass(frozen=True)
class CheckedStatement:
    """A statement that passed the guard: its text and the parsed plan that will run."""

    text: str
    plan: Any  # py4j handle of the parsed LogicalPlan


class SqlGuard:
    """Splits, checks and runs ad-hoc SQL on ``spark`` (see the module docstring for the contract)."""

    def __init__(self, spark: SparkSession, *, allow_writes: bool = False, catalogs: tuple[str, ...] = ()) -> None:
        self.spark = spark
        self.allow_writes = allow_writes
        self.catalogs = frozenset(catalogs)
        self._jvm = spark._jvm  # type: ignore[attr-defined]
        self._session = spark._jsparkSession  # type: ignore[attr-defined]
        self._subquery_class = self._class("org.apache.spark.sql.catalyst.expressions.SubqueryExpression")
        self.apply_session_settings()

    # ---- public API -----------------------------------------------------------------------------
    def apply_session_settings(self) -> None:
        """(Re-)apply the settings statements are checked and run under."""
        for key, value in GUARDED_CONF.items():
            self.spark.conf.set(key, value)

    def split(self, text: str) -> list[str]:
        """Statements of ``text``, split at the semicolons Spark's lexer sees (comments and strings are
        Spark's, not a regex's); empty statements are dropped."""
        statements, start = [], 0
        for token in self._tokens(text):
            if token.getType() == self._semicolon:
                statements.append(text[start:token.getStartIndex()])
                start = token.getStopIndex() + 1
        statements.append(text[start:])
        return [s.strip() for s in statements if self._has_code(s)]

    def is_complete(self, text: str) -> bool:
        """True when ``text`` ends with a statement terminator as Spark reads it (for the prompt)."""
        tokens = [t for t in self._tokens(text) if t.getChannel() == 0 and t.getType() != -1]
        return bool(tokens) and tokens[-1].getType() == self._semicolon

    def check(self, statement: str, *, analyze: bool = True) -> CheckedStatement:
        """Parse and check one statement; raise :class:`RefusedStatement` if it may not run.

        ``analyze=False`` stops after the checks on the parsed plan (they need no table to exist yet,
        so a batch can be vetted before its first statement runs); :meth:`run` always analyses.
        """
        self.apply_session_settings()
        plan = self._session.sessionState().sqlParser().parsePlan(statement)
        root = plan.getClass().getName()
        self._refuse_always(plan)
        if root == _COMMAND + "SetCommand":
            self._check_set(plan)
        if not self.allow_writes:
            self._check_read_only(plan, analyze=analyze)
        elif analyze:
            # Analysis resolves every function alias; it runs nothing (commands execute later).
            self._refuse_reflection(self._analyze(plan))
        return CheckedStatement(statement, plan)

    def run(self, statement: str) -> DataFrame:
        """Check ``statement`` and run exactly the checked plan."""
        from pyspark.sql import DataFrame

        checked = self.check(statement)
        jdf = self._jvm.org.apache.spark.sql.Dataset.ofRows(self._session, checked.plan)
        return DataFrame(jdf, self.spark)

    # ---- checks ---------------------------------------------------------------------------------
    def _check_read_only(self, plan: Any, *, analyze: bool) -> None:
        root = plan.getClass().getName()
        if root in INSPECTION_COMMANDS:
            inner = self._inner_query(plan)
            if inner is not None:
                self._check_query(inner, analyze=analyze)
            return
        self._check_query(plan, analyze=analyze)

    def _check_query(self, plan: Any, *, analyze: bool) -> None:
        for node in self._plans(plan):
            name = node.getClass().getName()
            if name not in QUERY_NODES:
                raise RefusedStatement(
                    f"{_describe(node)} is not a read-only query: ad-hoc SQL runs only queries, SHOW, DESCRIBE "
                    "and EXPLAIN; add --write to change data or metadata")
        if not analyze:
            return
        analyzed = self._analyze(plan)
        for node in self._plans(analyzed):
            name = node.getClass().getName()
            if name not in QUERY_NODES:
                raise RefusedStatement(
                    f"the query reads through {_simple(name)}, which ad-hoc SQL does not allow: "
                    "only tables of the lakehouse catalog can be queried")
            if name == _V2 + "DataSourceV2Relation":
                self._check_catalog(node)
        self._refuse_reflection(analyzed)

    def _refuse_always(self, plan: Any) -> None:
        for node in self._plans(plan):
            name = node.getClass().getName()
            if name in _ALWAYS_REFUSED_NODES:
                raise RefusedStatement(f"refused: {_ALWAYS_REFUSED_NODES[name]}")
            if name == _ANALYSIS + "UnresolvedRelation":
                self._check_relation_name(node)
        self._refuse_reflection(plan)
        inner = self._inner_query(plan)
        if inner is not None:
            self._refuse_always(inner)

    def _refuse_reflection(self, plan: Any) -> None:
        for expression in self._expressions(plan):
            name = expression.getClass().getName()
            if name.endswith(_REFLECTION_EXPRESSIONS):
                raise RefusedStatement("refused: reflect/java_method call arbitrary JVM methods")
            if name == _ANALYSIS + "UnresolvedFunction":
                parts = [str(p).lower() for p in self._list(expression.nameParts())]
                if parts and parts[-1] in REFLECTION_FUNCTIONS:
                    raise RefusedStatement(f"refused: {parts[-1]}() calls arbitrary JVM methods")

    def _check_set(self, plan: Any) -> None:
        option = plan.kv()
        if option.isEmpty():  # SET / SET -v: lists settings (redacted, but still a command)
            if not self.allow_writes:
                raise RefusedStatement("SET is not a read-only query: ad-hoc SQL only reads")
            return
        key = str(option.get()._1())
        has_value = not option.get()._2().isEmpty()
        if _PROTECTED_SET_KEY.search(key):
            raise RefusedStatement(f"refused: the setting {key} cannot be read or changed from ad-hoc SQL")
        if has_value and not self.allow_writes:
            raise RefusedStatement("SET changes session settings: add --write to run it")

    def _check_relation_name(self, relation: Any) -> None:
        parts = [str(p) for p in self._list(relation.multipartIdentifier())]
        if len(parts) >= 2 and re.search(r"[/:\\]", parts[-1]):
            quoted = ".".join(f"`{p}`" for p in parts)
            raise RefusedStatement(f"refused: {quoted} reads files by path; ad-hoc SQL reads catalog tables only")

    def _check_catalog(self, relation: Any) -> None:
        if not self.catalogs:
            return
        catalog = relation.catalog()
        name = str(catalog.get().name()) if catalog.isDefined() else None
        if name not in self.catalogs:
            raise RefusedStatement(f"refused: table {relation.table().name()} is not in the lakehouse catalog")

    # ---- plan traversal (py4j) --------------------------------------------------------------------
    def _analyze(self, plan: Any) -> Any:
        execution = self._jvm.org.apache.spark.sql.execution
        skip = getattr(getattr(execution, "CommandExecutionMode$"), "MODULE$").SKIP()
        return self._session.sessionState().executePlan(plan, skip).analyzed()

    def _inner_query(self, plan: Any) -> Any | None:
        name = plan.getClass().getName()
        if name == _COMMAND + "ExplainCommand":
            return plan.logicalPlan()
        if name == _COMMAND + "DescribeQueryCommand":
            return plan.plan()
        return None

    def _plans(self, plan: Any) -> list[Any]:
        """Every plan node under ``plan``: children, inner children (CTE definitions) and the plans
        of subquery expressions."""
        out, stack = [], [plan]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(self._list(node.children()))
            for inner in self._list(node.innerChildren()):
                if self._is_plan(inner):
                    stack.append(inner)
            for expression in self._expressions_of(node):
                if self._subquery_class.isInstance(expression):
                    stack.append(expression.plan())
        return out

    def _expressions(self, plan: Any) -> list[Any]:
        out: list[Any] = []
        for node in self._plans(plan):
            out.extend(self._expressions_of(node))
        return out

    def _expressions_of(self, node: Any) -> list[Any]:
        out, stack = [], list(self._list(node.expressions()))
        while stack:
            expression = stack.pop()
            out.append(expression)
            stack.extend(self._list(expression.children()))
        return out

    def _is_plan(self, obj: Any) -> bool:
        return bool(self._class(_LOGICAL + "LogicalPlan").isInstance(obj))

    def _list(self, seq: Any) -> list[Any]:
        return list(self._jvm.scala.collection.JavaConverters.seqAsJavaList(seq))

    def _class(self, name: str) -> Any:
        return self._jvm.java.lang.Class.forName(name)

    # ---- lexing ---------------------------------------------------------------------------------
    @property
    def _semicolon(self) -> int:
        return int(self._jvm.org.apache.spark.sql.catalyst.parser.SqlBaseLexer.SEMICOLON)

    def _tokens(self, text: str) -> list[Any]:
        jvm = self._jvm
        lexer = jvm.org.apache.spark.sql.catalyst.parser.SqlBaseLexer(
            jvm.org.antlr.v4.runtime.CharStreams.fromString(text))
        lexer.removeErrorListeners()
        return list(lexer.getAllTokens())

    def _has_code(self, text: str) -> bool:
        return any(t.getChannel() == 0 and t.getType() != self._semicolon for t in self._tokens(text))


def _simple(class_name: str) -> str:
    return class_name.rsplit(".", 1)[-1].rstrip("$")


def _describe(node: Any) -> str:
    """A plan node as words for messages, e.g. DeleteFromTable -> 'DELETE FROM TABLE'."""
    name = re.sub(r"(Statement|Command)$", "", _simple(node.getClass().getName())) or "statement"
    return " ".join(re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", name)).upper()
