"""A fused, conservative pre-check of a Great Expectations suite on a Spark DataFrame.

GX resolves one Spark job per metric (23 for the silver ticks suite, each uniqueness check a full
shuffle). :func:`precheck` evaluates every expectation of a suite with **one** ``df.agg(...)`` of many
expressions plus **one** grouped count of (uniqueness key, 64-bit key hash) pairs for all uniqueness keys
together, so a passing gate reads the staged rows twice (two Spark actions, nothing cached); only a key
whose hashes repeat (a duplicate or a collision) is counted exactly, by grouping its columns.

The check is *conservative*: it may say "fail" where GX would pass (GX then decides), but never "pass"
where GX would fail. It mirrors the Spark expressions of GX's own metric providers
(``great_expectations/expectations/metrics``) and GX's success rules (``mostly``, vacuous truth of empty
domains), and errs towards failure where GX's verdict could depend on more than those expressions:

* a row condition that evaluates to null for a row counts as unexpected (GX ignores such rows);
* sums and means of floating-point data must clear each bound by the worst-case rounding difference of two
  summation orders (Spark may merge partial sums in any order), so a value at a bound is left to GX;
* any expectation type, kwarg or value the check does not know (suite parameters, other condition parsers,
  nested or missing columns, unusual column types) makes the whole suite *not applicable*: GX validates it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

log = logging.getLogger("lakehouse.quality_fused")

EVALUATED_BY = "lakehouse fused aggregation"
PAIRS_PER_PARTITION = 500_000  # (key, hash) pairs one task counts: a hash map of a few tens of MB
_ROWS = "__rows"  # the staged row count, from the fused aggregation
_U = 2.0**-52  # double precision unit (machine epsilon)

_COMMON = frozenset({"row_condition", "condition_parser", "catch_exceptions"})
_BETWEEN = frozenset({"min_value", "max_value", "strict_min", "strict_max"})
SUPPORTED_KWARGS: dict[str, frozenset[str]] = {
    "expect_column_values_to_not_be_null": frozenset({"column", "mostly"}),
    "expect_column_values_to_be_between": frozenset({"column", "mostly"}) | _BETWEEN,
    "expect_column_values_to_be_in_set": frozenset({"column", "mostly", "value_set"}),
    "expect_column_values_to_match_regex": frozenset({"column", "mostly", "regex"}),
    "expect_column_values_to_not_match_regex": frozenset({"column", "mostly", "regex"}),
    "expect_column_values_to_be_unique": frozenset({"column", "mostly"}),
    "expect_compound_columns_to_be_unique": frozenset({"column_list", "mostly", "ignore_row_if"}),
    "expect_column_pair_values_a_to_be_greater_than_b": frozenset(
        {"column_A", "column_B", "mostly", "or_equal", "ignore_row_if"}),
    "expect_column_pair_values_to_be_equal": frozenset({"column_A", "column_B", "mostly", "ignore_row_if"}),
    "expect_column_distinct_values_to_contain_set": frozenset({"column", "value_set"}),
    "expect_column_mean_to_be_between": frozenset({"column"}) | _BETWEEN,
    "expect_column_sum_to_be_between": frozenset({"column"}) | _BETWEEN,
    "expect_table_row_count_to_be_between": _BETWEEN,
    "expect_table_row_count_to_equal": frozenset({"value"}),
}
SUPPORTED_TYPES = frozenset(SUPPORTED_KWARGS)


class Unsupported(Exception):
    """The fused check cannot decide this expectation as GX would: GX validates the suite."""


@dataclass
class Outcome:
    """One expectation's fused verdict (``supported`` False: not evaluated, see ``reason``)."""

    supported: bool
    success: bool = False
    result: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class FusedCheck:
    """A suite's fused pre-check: ``applicable`` when every expectation is supported; ``gx_result`` (GX's
    JSON shape) only when applicable and every expectation passed."""

    applicable: bool
    success: bool
    outcomes: list[Outcome]
    gx_result: dict[str, Any] | None = None
    reason: str = ""


@dataclass
class _Plan:
    """How one expectation is computed: named aggregate expressions, and a verdict from their values."""

    config: Any  # GX's ExpectationConfiguration (kwargs as GX coerced them)
    aggregates: dict[str, Column] = field(default_factory=dict)
    key: tuple[Any, ...] | None = None  # a uniqueness key: (columns, row condition, ignore rule)
    decide: Callable[[dict[str, Any]], tuple[bool, dict[str, Any]]] | None = None


# ---- public ---------------------------------------------------------------------------------------
def precheck(df: DataFrame, suite_name: str, expectations: list[dict[str, Any]]) -> FusedCheck:
    """Evaluate the suite ``expectations`` on ``df`` with one fused Spark aggregation.

    Contract: **conservative** (success here implies GX's success; a failure here means only "ask GX").
    Supported types are :data:`SUPPORTED_TYPES` with the kwargs of :data:`SUPPORTED_KWARGS` (``mostly``;
    ``row_condition`` with ``condition_parser="spark"``). If any expectation is unsupported nothing is read
    and the result is not applicable. Otherwise ``df`` is read at most ``1 + k`` times (``k``: distinct
    uniqueness keys, single or compound), without caching. When every expectation passed, ``gx_result`` is a
    GX ``ExpectationSuiteValidationResult.to_json_dict()`` with observed values, statistics and
    ``meta.evaluated_by`` = :data:`EVALUATED_BY`.
    """
    expectations = _as_in_a_gx_suite(expectations)
    outcomes = evaluate(df, expectations, require_all=True)
    unsupported = [o for o in outcomes if not o.supported]
    if unsupported:
        return FusedCheck(False, False, outcomes, reason=unsupported[0].reason)
    success = all(o.success for o in outcomes)
    gx_result = _suite_result(suite_name, outcomes) if success else None
    return FusedCheck(True, success, outcomes, gx_result)


def evaluate(df: DataFrame, expectations: list[dict[str, Any]], require_all: bool = False) -> list[Outcome]:
    """Each expectation's fused verdict, in order. Unsupported expectations get ``supported=False``; with
    ``require_all`` nothing is computed once one is unsupported."""
    plans: list[_Plan | Outcome] = []
    for index, expectation in enumerate(expectations):
        try:
            plans.append(_plan(df, expectation, index))
        except Unsupported as exc:
            plans.append(Outcome(False, reason=f"{expectation.get('type')}: {exc}"))
    if require_all and any(isinstance(p, Outcome) for p in plans):
        return [p if isinstance(p, Outcome) else Outcome(True, reason="not evaluated: the suite has an unsupported "
                                                             "expectation") for p in plans]
    values = _compute(df, [p for p in plans if isinstance(p, _Plan)])
    out = []
    for plan in plans:
        if isinstance(plan, Outcome):
            out.append(plan)
            continue
        assert plan.decide is not None
        success, result = plan.decide(values)
        out.append(Outcome(True, bool(success), {"config": plan.config, "result": result}))
    return out


def _as_in_a_gx_suite(expectations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The expectations a GX suite keeps: adding an expectation *replaces* an earlier one of the same type and
    domain (column(s) and row condition), so GX validates only the last of them; so does the fused check."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    suite = gx.ExpectationSuite(name="lakehouse-fused")
    try:
        suite.add_expectation_configurations([
            ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"], meta={"lakehouse_fused_index": i})
            for i, e in enumerate(expectations)])
    except Exception:  # GX rejects the suite: evaluate all (unsupported ones leave it to GX)
        return expectations
    kept = sorted(c.meta["lakehouse_fused_index"] for c in suite.expectation_configurations)
    if len(kept) < len(expectations):
        log.info("a GX suite keeps %d of %d expectations (same type and domain replace each other)", len(kept),
                 len(expectations))
    return [expectations[i] for i in kept]


# ---- computing ------------------------------------------------------------------------------------
def _compute(df: DataFrame, plans: list[_Plan]) -> dict[str, Any]:
    """One ``agg`` of every plan's expressions, and one grouped count of key hashes for every uniqueness key."""
    from pyspark.sql import functions as F

    aggregates: dict[str, Column] = {}
    for plan in plans:
        aggregates.update(plan.aggregates)
    values: dict[str, Any] = {}
    keys = list(dict.fromkeys(p.key for p in plans if p.key is not None))
    if keys:  # sizes the hash count's shuffle (below); same pass as the other aggregates
        aggregates[_ROWS] = F.count(F.lit(1))
    if aggregates:
        row = df.agg(*(expr.alias(name) for name, expr in aggregates.items())).collect()[0]
        values.update(row.asDict())
    hashable = [key for key in keys if all(_hashable(df.schema[c].dataType) for c in key[0])]
    repeated = _keys_with_repeated_hashes(df, hashable, rows=int(values.get(_ROWS) or 0))
    for key in keys:
        # Equal keys have equal hashes: a key whose hashes never repeat has no duplicate at all.
        values[_key_name(key)] = 0 if key in hashable and key not in repeated else _duplicated_rows(df, key)
    log.debug("fused check: %d aggregates, %d uniqueness keys (%d counted exactly)", len(aggregates), len(keys),
              len([k for k in keys if k not in hashable or k in repeated]))
    return values


def _duplicated_rows(df: DataFrame, key: tuple[Any, ...]) -> int:
    """Rows of ``df`` in the key's domain whose key value occurs more than once (exact: groups the key)."""
    from pyspark.sql import functions as F

    columns, condition, keep = key
    rows = df.where(_domain(condition) & _keep(columns, keep))
    grouped = rows.groupBy(F.struct(*(F.col(c) for c in columns)).alias("__key")).count()
    duplicated = grouped.where(F.col("count") > 1).agg(F.sum("count").alias("n")).collect()[0]["n"]
    return int(duplicated or 0)


def _keys_with_repeated_hashes(df: DataFrame, keys: list[tuple[Any, ...]], *, rows: int) -> set[tuple[Any, ...]]:
    """The uniqueness keys among ``keys`` for which two rows of their domain share a key hash.

    One Spark job for all keys: each row contributes one tagged 64-bit hash per key whose domain it is in, and
    one grouped count finds the repeated ones (:func:`repeated_hash_pairs`), so the shuffle carries 8 bytes per
    row and key instead of the key's columns. A repeated hash is a duplicate or a collision; the caller counts
    those keys exactly. Floating-point values are normalised as Spark's grouping does (-0.0 is 0.0, every NaN is
    one NaN), so values GX's grouped count sees as equal hash alike.
    """
    if not keys:
        return set()
    repeated = repeated_hash_pairs(df, keys, rows=rows).select("key").distinct().collect()
    return {keys[row["key"]] for row in repeated}


def repeated_hash_pairs(df: DataFrame, keys: list[tuple[Any, ...]], *, rows: int) -> DataFrame:
    """The (key index, tagged key hash, count) of ``keys`` whose hash occurs more than once among ``df``'s ``rows``.

    A row's hash for key ``i`` is the xxhash64 of the key's values shifted left by ``b`` bits with ``i`` in the
    low ``b`` bits (``b``: enough bits for the key indices), one ``long`` per row and key: equal key values give
    equal tagged hashes, and the key index is read back from the repeated ones. (Pairs of a key index and its
    hash as a struct made the shuffled rows half as large again, and the count 12 % slower on 5M ticks.)
    The hashes are hash-partitioned *before* they are counted, into one partition per
    :data:`PAIRS_PER_PARTITION`. Nearly every hash is unique, so a map-side partial count (what a plain
    ``groupBy`` plans) reduces nothing and holds every hash of its input split in one hash map, which spills
    once the split is large: on 20M staged ticks (40M hashes, 2 GiB driver) the plain grouped count took
    45-47 s, this one 14-16 s (5M: 13.2 s vs 4.7 s).
    """
    from pyspark.sql import functions as F

    bits = max(1, (len(keys) - 1).bit_length())
    tagged = [F.when(_domain(condition) & _keep(columns, keep), F.shiftleft(
        F.xxhash64(*(_hash_input(df, c) for c in columns)), bits).bitwiseOR(F.lit(index).cast("long")))
        for index, (columns, condition, keep) in enumerate(keys)]
    hashes = df.select(F.explode(F.array(*tagged)).alias("hash")).where(F.col("hash").isNotNull())
    minimum = int(df.sparkSession.conf.get("spark.sql.shuffle.partitions") or 1)
    partitions = max(minimum, math.ceil(rows * len(keys) / PAIRS_PER_PARTITION))
    counted = hashes.repartition(partitions, "hash").groupBy("hash").count().where(F.col("count") > 1)
    return counted.select(F.col("hash").bitwiseAND(F.lit((1 << bits) - 1)).cast("int").alias("key"), "hash", "count")


def _hashable(data_type: Any) -> bool:
    """Atomic types whose equal values (as Spark groups them) hash alike once :func:`_hash_input` ran."""
    from pyspark.sql import types as T

    return isinstance(data_type, (T.NumericType, T.StringType, T.BooleanType, T.BinaryType, T.DateType,
                                  T.TimestampType, T.TimestampNTZType))


def _hash_input(df: DataFrame, column: str) -> Column:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    col = F.col(column)
    if isinstance(df.schema[column].dataType, (T.FloatType, T.DoubleType)):
        return F.when(F.isnan(col), F.lit(math.nan)).when(col == 0, F.lit(0.0)).otherwise(col)
    return col


def _domain(condition: str | None) -> Column:
    """The rows a row condition selects (GX filters with it; a null verdict drops the row)."""
    from pyspark.sql import functions as F

    return F.coalesce(F.expr(condition), F.lit(False)) if condition else F.lit(True)


def _keep(columns: tuple[str, ...], rule: str) -> Column:
    """Rows kept by an ``ignore_row_if`` rule (as GX's Spark execution engine filters them)."""
    from functools import reduce

    from pyspark.sql import functions as F

    nulls = [F.col(c).isNull() for c in columns]
    if rule in ("all_values_are_missing", "both_values_are_missing"):
        return ~reduce(lambda a, b: a & b, nulls)
    if rule in ("any_value_is_missing", "either_value_is_missing"):
        return ~reduce(lambda a, b: a | b, nulls)
    return F.lit(True)  # never / neither / not_null (only for single-column uniqueness, see _plan)


def _key_name(key: tuple[Any, ...]) -> str:
    return f"dup:{key!r}"


# ---- planning -------------------------------------------------------------------------------------
def _plan(df: DataFrame, expectation: dict[str, Any], index: int) -> _Plan:
    from pyspark.sql import functions as F

    type_ = expectation.get("type")
    kwargs = dict(expectation.get("kwargs") or {})
    if type_ not in SUPPORTED_KWARGS:
        raise Unsupported("expectation type not supported")
    unknown = set(kwargs) - SUPPORTED_KWARGS[type_] - _COMMON
    if unknown:
        raise Unsupported(f"kwargs not supported: {sorted(unknown)}")
    condition = kwargs.get("row_condition") or None
    if condition is not None and (not isinstance(condition, str) or kwargs.get("condition_parser") != "spark"):
        raise Unsupported("only string row conditions with condition_parser 'spark' are supported")
    if _has_parameter(kwargs):
        raise Unsupported("suite parameters are not supported")
    config, model = _gx_model(type_, kwargs, expectation.get("meta"))
    mostly = float(getattr(model, "mostly", 1.0) if getattr(model, "mostly", None) is not None else 1.0)
    if not 0.0 <= mostly <= 1.0:
        raise Unsupported("mostly outside [0, 1]")

    name = f"e{index}"
    domain = _domain(condition)
    plan = _Plan(config)
    total = f"{name}:total"
    plan.aggregates[total] = F.count(F.when(domain, F.lit(1)))

    if type_ == "expect_table_row_count_to_equal":
        value = model.value
        if not _is_int(value):
            raise Unsupported("value must be an integer")
        plan.decide = lambda v: (v[total] == value, {"observed_value": v[total]})
        return plan
    if type_ == "expect_table_row_count_to_be_between":
        bounds = _bounds(model, integral=True)
        plan.decide = lambda v: (_between(v[total], *bounds), {"observed_value": v[total]})
        return plan

    if type_ in ("expect_column_pair_values_a_to_be_greater_than_b", "expect_column_pair_values_to_be_equal"):
        a, b = _column(df, model.column_A), _column(df, model.column_B)
        keep = _keep((a, b), model.ignore_row_if)
        if model.ignore_row_if not in ("both_values_are_missing", "either_value_is_missing", "neither"):
            raise Unsupported("unknown ignore_row_if")
        A, B = F.col(a), F.col(b)
        if type_ == "expect_column_pair_values_to_be_equal":
            expected = A.eqNullSafe(B)
        elif model.or_equal:
            expected = (A >= B) | A.eqNullSafe(B)
        else:
            expected = A > B
        considered, unexpected = f"{name}:considered", f"{name}:unexpected"
        plan.aggregates[considered] = F.count(F.when(domain & keep, F.lit(1)))
        plan.aggregates[unexpected] = F.count(F.when(domain & keep & ~F.coalesce(expected, F.lit(False)), F.lit(1)))
        plan.decide = lambda v: _map_verdict(v[total], v[considered], v[unexpected], mostly)
        return plan

    if type_ == "expect_compound_columns_to_be_unique":
        columns = tuple(_column(df, c) for c in model.column_list)
        if not columns:
            raise Unsupported("empty column_list")
        rule = model.ignore_row_if
        if rule not in ("all_values_are_missing", "any_value_is_missing", "never"):
            raise Unsupported("unknown ignore_row_if")
        considered = f"{name}:considered"
        plan.aggregates[considered] = F.count(F.when(domain & _keep(columns, rule), F.lit(1)))
        plan.key = (columns, condition, rule)
        key = _key_name(plan.key)
        plan.decide = lambda v: _map_verdict(v[total], v[considered], v[key], mostly)
        return plan

    column = _column(df, model.column)
    col = F.col(column)
    data_type = df.schema[column].dataType
    nonnull = f"{name}:nonnull"
    plan.aggregates[nonnull] = F.count(F.when(domain & col.isNotNull(), F.lit(1)))

    if type_ == "expect_column_values_to_not_be_null":
        def not_null(v: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
            count, unexpected = v[total], v[total] - v[nonnull]
            success = count == 0 or (count - unexpected) / count >= mostly
            return success, _map_result(count, None, unexpected)
        plan.decide = not_null
        return plan

    if type_ == "expect_column_values_to_be_unique":
        plan.key = ((column,), condition, "any_value_is_missing")  # column map metrics drop nulls
        key = _key_name(plan.key)
        plan.decide = lambda v: _map_verdict(v[total], v[nonnull], v[key], mostly)
        return plan

    if type_ in ("expect_column_mean_to_be_between", "expect_column_sum_to_be_between"):
        return _aggregate_plan(plan, type_, model, col, data_type, domain, name, total)

    if type_ == "expect_column_distinct_values_to_contain_set":
        value_set = model.value_set
        if value_set is None or not isinstance(value_set, (list, tuple, set)):
            raise Unsupported("value_set must be a list")
        values = list(value_set)
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
            raise Unsupported("value_set holds null or NaN")
        found = f"{name}:found"
        if values:
            plan.aggregates[found] = F.countDistinct(F.when(domain & col.isNotNull() & col.isin(values), col))
        else:
            plan.aggregates[found] = F.lit(0)

        def contains(v: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
            missing = len(values) - int(v[found] or 0) if values else 0
            return missing == 0, {"observed_value": None, "missing_count": missing, "partial_missing_list": []}
        plan.decide = contains
        return plan

    # column map expectations: GX counts non-null rows whose condition is not true
    if type_ == "expect_column_values_to_be_between":
        if _is_text_or_bool(data_type):
            raise Unsupported("between on a string or boolean column")
        expected = _between_column(col, model)
    elif type_ == "expect_column_values_to_be_in_set":
        if model.value_set is None:
            raise Unsupported("value_set is None")
        expected = col.isin(list(model.value_set))
    elif type_ in ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex"):
        if not isinstance(model.regex, str):
            raise Unsupported("regex must be a string")
        expected = col.rlike(model.regex)
        expected = expected if type_ == "expect_column_values_to_match_regex" else ~expected
    else:  # pragma: no cover - every supported type is handled above
        raise Unsupported("expectation type not supported")
    unexpected = f"{name}:unexpected"
    plan.aggregates[unexpected] = F.count(
        F.when(domain & col.isNotNull() & ~F.coalesce(expected, F.lit(False)), F.lit(1)))
    plan.decide = lambda v: _map_verdict(v[total], v[nonnull], v[unexpected], mostly)
    return plan


def _aggregate_plan(plan: _Plan, type_: str, model: Any, col: Column, data_type: Any, domain: Column,
                    name: str, total: str) -> _Plan:
    """Mean or sum between bounds, with a rounding margin for floating-point data."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    mean = type_ == "expect_column_mean_to_be_between"
    allowed = (T.DecimalType, T.IntegerType, T.DoubleType, T.FloatType, T.LongType)
    if not mean:
        allowed = (*allowed, T.ShortType, T.ByteType)
    if type(data_type) not in allowed:
        raise Unsupported(f"{'mean' if mean else 'sum'} of a {data_type.simpleString()} column")
    bounds = _bounds(model, integral=False)
    observed, magnitude, count = f"{name}:value", f"{name}:abs", f"{name}:count"
    values = F.when(domain, col)
    plan.aggregates[observed] = F.mean(values) if mean else F.sum(values)
    plan.aggregates[count] = F.count(values)
    exact = isinstance(data_type, T.DecimalType) or (not mean and not isinstance(data_type, (T.DoubleType,
                                                                                            T.FloatType)))
    if not exact:
        plan.aggregates[magnitude] = F.sum(F.abs(values.cast("double")))

    def decide(v: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        value = v[observed]
        result = {"observed_value": value}
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            return False, result
        margin = 0.0
        if not exact:
            n, total_abs = int(v[count] or 0), v[magnitude]
            if total_abs is None or not math.isfinite(total_abs):
                return False, result
            # two summation orders of n doubles differ by at most 2 (n - 1) u sum|x|; a mean divides by n
            margin = 4.0 * (n + 1) * _U * total_abs + 4.0 * _U * abs(float(value))
            margin = margin / max(n, 1) if mean else margin
        return _between(value, *bounds, margin=margin), result
    plan.decide = decide
    return plan


# ---- GX semantics ---------------------------------------------------------------------------------
def _gx_model(type_: str, kwargs: dict[str, Any], meta: dict[str, Any] | None) -> tuple[Any, Any]:
    """GX's own expectation object (its validation and coercion of kwargs, defaults such as ignore_row_if)."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    try:
        config = ExpectationConfiguration(type=type_, kwargs=kwargs, meta=meta)
        model = config.to_domain_obj()
    except Exception as exc:  # GX rejects it: GX reports it
        raise Unsupported(f"GX does not accept the configuration ({type(exc).__name__})") from exc
    return model.configuration, model


def _has_parameter(value: Any) -> bool:
    if isinstance(value, dict):
        return "$PARAMETER" in value or any(_has_parameter(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_parameter(v) for v in value)
    return False


def _column(df: DataFrame, name: Any) -> str:
    if not isinstance(name, str) or name not in df.columns or "." in name or "`" in name:
        raise Unsupported(f"column {name!r} is not a plain top-level column")
    return name


def _is_text_or_bool(data_type: Any) -> bool:
    from pyspark.sql import types as T

    return isinstance(data_type, (T.StringType, T.BooleanType, T.BinaryType, T.VarcharType, T.CharType))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value) or isinstance(value, decimal.Decimal)


def _bounds(model: Any, integral: bool) -> tuple[Any, Any, bool, bool]:
    low, high = model.min_value, model.max_value
    check = _is_int if integral else _is_number
    for bound in (low, high):
        if bound is not None and not check(bound):
            raise Unsupported("bounds must be numbers")
    if low is not None and high is not None and low > high:
        raise Unsupported("min_value > max_value")
    return low, high, bool(model.strict_min), bool(model.strict_max)


def _between(value: Any, low: Any, high: Any, strict_min: bool, strict_max: bool, margin: float = 0.0) -> bool:
    """GX's ``_validate_metric_value_between``, with ``value`` required to clear each bound by ``margin``."""
    if value is None:
        return False
    if margin:
        value_f = float(value)
        above = low is None or value_f - margin > float(low)
        below = high is None or value_f + margin < float(high)
        return above and below
    above = low is None or (value > low if strict_min else value >= low)
    below = high is None or (value < high if strict_max else value <= high)
    return bool(above and below)


def _between_column(col: Column, model: Any) -> Column:
    """GX's Spark ``column_values.between`` condition."""
    from pyspark.sql import functions as F

    low, high = model.min_value, model.max_value
    if low is None and high is None:
        raise Unsupported("min_value and max_value are both None")
    if _has_parameter([low, high]) or not all(
            b is None or isinstance(b, (int, float, decimal.Decimal, dt.date, str)) for b in (low, high)):
        raise Unsupported("bounds of an unsupported type")
    if isinstance(low, bool) or isinstance(high, bool):
        raise Unsupported("boolean bounds")
    if low is not None and high is not None and low > high:
        raise Unsupported("min_value > max_value")
    parts = []
    if low is not None:
        parts.append(col > F.lit(low) if model.strict_min else col >= F.lit(low))
    if high is not None:
        parts.append(col < F.lit(high) if model.strict_max else col <= F.lit(high))
    return parts[0] if len(parts) == 1 else parts[0] & parts[1]


def _map_verdict(total: int, considered: int, unexpected: int, mostly: float) -> tuple[bool, dict[str, Any]]:
    """GX's map-expectation rule: vacuously true on no rows, else (considered - unexpected) / considered >=
    mostly (the same float arithmetic as GX's ``_mostly_success``)."""
    if total == 0 or considered == 0:
        success = True
    else:
        success = (float(considered) - float(unexpected)) / float(considered) >= mostly
    return success, _map_result(total, considered, unexpected)


def _map_result(element_count: int, nonnull_count: int | None, unexpected_count: int) -> dict[str, Any]:
    """The ``result`` GX's ``SUMMARY`` format gives a map expectation (no samples: nothing was unexpected
    in a passing result, or the samples were not collected)."""
    total = unexpected_count / element_count * 100 if element_count > 0 else None
    if nonnull_count is None:
        return {"element_count": element_count, "unexpected_count": unexpected_count, "unexpected_percent": total,
                "partial_unexpected_list": [], "partial_unexpected_counts": []}
    missing = element_count - nonnull_count
    nonmissing = unexpected_count / nonnull_count * 100 if element_count > 0 and nonnull_count > 0 else None
    return {"element_count": element_count, "unexpected_count": unexpected_count, "unexpected_percent": nonmissing,
            "partial_unexpected_list": [], "missing_count": missing,
            "missing_percent": missing / element_count * 100 if element_count > 0 else None,
            "unexpected_percent_total": total, "unexpected_percent_nonmissing": nonmissing,
            "partial_unexpected_counts": []}


def _suite_result(suite_name: str, outcomes: list[Outcome]) -> dict[str, Any]:
    """A GX ``ExpectationSuiteValidationResult`` (its JSON form) of passing fused outcomes."""
    import great_expectations as gx
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    results = []
    for outcome in outcomes:
        config = outcome.result["config"]
        kwargs = {"batch_id": f"lakehouse-{suite_name}", **config.kwargs}
        results.append(ExpectationValidationResult(
            success=outcome.success,
            expectation_config=ExpectationConfiguration(type=config.type, kwargs=kwargs, meta=config.meta),
            result=_jsonable(outcome.result["result"]),
            meta={"evaluated_by": EVALUATED_BY},
            exception_info={"raised_exception": False, "exception_traceback": None, "exception_message": None}))
    passed = sum(1 for o in outcomes if o.success)
    statistics = {"evaluated_expectations": len(outcomes), "successful_expectations": passed,
                  "unsuccessful_expectations": len(outcomes) - passed,
                  "success_percent": passed / len(outcomes) * 100 if outcomes else None}
    meta = {"great_expectations_version": gx.__version__, "evaluated_by": EVALUATED_BY,
            "batch_spec": {"batch_data": "SparkDataFrame"},
            "batch_markers": {"ge_load_time": dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")},
            "active_batch_definition": {"datasource_name": "lakehouse", "data_connector_name": "fluent",
                                        "data_asset_name": suite_name,
                                        "batch_identifiers": {"dataframe": "<DATAFRAME>"}}}
    suite = ExpectationSuiteValidationResult(success=passed == len(outcomes), results=results,
                                             suite_name=suite_name, suite_parameters={}, statistics=statistics,
                                             meta=meta)
    return suite.to_json_dict()


def _jsonable(result: dict[str, Any]) -> dict[str, Any]:
    """Observed values as JSON numbers (Spark returns Decimal for decimal sums and means)."""
    out = {}
    for key, value in result.items():
        if isinstance(value, decimal.Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        out[key] = value
    return out
