"""Failed expectations in words a person understands: "74.7 % of rows have no global_active_power (null);
at most 20 % allowed", "1,204 duplicate (symbol, ts, trade_id) rows; none allowed", "row count 10 is
outside [100, 1000]".

``describe(result)`` takes one expectation's result from a GX validation result (``to_json_dict()`` of an
``ExpectationValidationResult``: ``expectation_config`` with ``type``/``kwargs``/``meta``, ``result`` with
``observed_value``, ``unexpected_count``, ``unexpected_percent``, ``element_count``,
``partial_unexpected_list`` in GX's ``SUMMARY`` format) and dispatches on the expectation type. Every type
the suites in ``expectations/`` use has its own wording; any other type gets a generic line with its
observed value and arguments. A result without details (``BOOLEAN_ONLY``) or an expectation that raised
still gives one readable line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

Describer = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], str]

_SAMPLES = 3  # unexpected values quoted per expectation
_SET_ITEMS = 8  # values of a value set quoted before "..."
_TEXT = 60  # longest quoted string value


def expectation_id(config: dict[str, Any]) -> str:
    """The short machine name of an expectation: ``type(column)``, e.g.
    ``expect_column_values_to_not_be_null(global_active_power)`` (stored as ``failed`` in a report)."""
    kwargs = config.get("kwargs", {}) or {}
    target = kwargs.get("column") or kwargs.get("column_list") or kwargs.get("column_A") or ""
    name = config.get("type", "?")
    return f"{name}({target})" if target else name


def describe(result: dict[str, Any]) -> str:
    """One line saying what an expectation found against what it allows (see the module docstring)."""
    config = result.get("expectation_config", {}) or {}
    kwargs = config.get("kwargs", {}) or {}
    observed = result.get("result", {}) or {}
    exception = result.get("exception_info", {}) or {}
    if exception.get("raised_exception"):
        message = str(exception.get("exception_message") or "an error").splitlines()[0][:200]
        return f"{expectation_id(config)} could not be evaluated: {message}"
    describer = _DESCRIBERS.get(config.get("type", ""), _generic)
    try:
        text = describer(config, kwargs, observed)
    except (KeyError, TypeError, ValueError, AttributeError):  # unexpected shape: never hide the failure
        text = _generic(config, kwargs, observed)
    reason = _reason(config.get("meta"))
    return " ".join(f"{text}{f' ({reason})' if reason else ''}".split())


# ---- formatting ---------------------------------------------------------------------------------
def _num(value: Any) -> str:
    """1204 -> '1,204', 0.5 -> '0.5', 1e6 -> '1,000,000', 3.14159 -> '3.142'."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.4g}" if abs(value) >= 1e-3 else f"{value:.3g}"
    return str(value)


def _pct(value: float | None) -> str:
    """74.6912 -> '74.7 %', 20.0 -> '20 %', 0.004 -> '< 0.01 %'."""
    if value is None:
        return "? %"
    if 0 < value < 0.01:
        return "< 0.01 %"
    if 99.99 < value < 100:
        return "> 99.99 %"
    return f"{value:.3g} %" if value < 100 else f"{value:.0f} %"


def _value(value: Any) -> str:
    """A data value as shown in a message: strings quoted and shortened, numbers formatted, rows as tuples."""
    if isinstance(value, str):
        text = value if len(value) <= _TEXT else value[: _TEXT - 3] + "..."
        return repr(text)
    if isinstance(value, dict):
        return "(" + ", ".join(_value(v) for v in value.values()) + ")"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_value(v) for v in value) + ")"
    if value is None:
        return "null"
    return _num(value)


def _values(values: Iterable[Any], limit: int = _SET_ITEMS) -> str:
    items = list(values)
    shown = ", ".join(_value(v) for v in items[:limit])
    return "{" + shown + (", ..." if len(items) > limit else "") + "}"


def _examples(observed: dict[str, Any]) -> str:
    samples = observed.get("partial_unexpected_list") or []
    unique: list[Any] = []
    for sample in samples:
        if sample not in unique:
            unique.append(sample)
        if len(unique) == _SAMPLES:
            break
    return f" (e.g. {', '.join(_value(s) for s in unique)})" if unique else ""


def _rows(count: int | None) -> str:
    return "1 row" if count == 1 else f"{_num(count)} rows"


def _allowed(kwargs: dict[str, Any]) -> str:
    mostly = kwargs.get("mostly")
    if mostly is None or mostly >= 1:
        return "none allowed"
    return f"at most {_pct((1 - float(mostly)) * 100)} allowed"


def _share(observed: dict[str, Any], kwargs: dict[str, Any], what: str, *, plural_verb: str = "have",
           singular_verb: str = "has", of_nonnull: bool = True, examples: bool = True) -> str:
    """'<N> rows (<p> %) <what>; none allowed', or with ``mostly``: '<p> % of rows (<N> of <M>) <what>;
    at most <q> % allowed'. Without details (BOOLEAN_ONLY): 'some rows <what>; ...'.

    ``mostly`` is GX's share of non-null rows (nulls are neither expected nor unexpected), so the share
    shown against it is GX's ``unexpected_percent`` of the non-null rows; without ``mostly`` the share is
    of all rows."""
    count, total = observed.get("unexpected_count"), observed.get("element_count")
    if count is None:
        return f"some rows {plural_verb} {what}; {_allowed(kwargs)}"
    sample = _examples(observed) if examples else ""
    missing = int(observed.get("missing_count") or 0) if of_nonnull else 0
    if kwargs.get("mostly") is not None and kwargs["mostly"] < 1:
        rows = "non-null rows" if missing else "rows"
        of_total = f" ({_num(count)} of {_num(total - missing)})" if total is not None else ""
        lead = f"{_pct(observed.get('unexpected_percent'))} of {rows}{of_total} {plural_verb}"
    else:
        percent = observed.get("unexpected_percent_total", observed.get("unexpected_percent"))
        share = f" ({_pct(percent)})" if percent is not None else ""
        lead = f"{_rows(count)}{share} {singular_verb if count == 1 else plural_verb}"
    return f"{lead} {what}{sample}; {_allowed(kwargs)}"


def _range(kwargs: dict[str, Any]) -> str:
    """'[0, 100]', '(0, 100]', '>= 1', '> 0', '<= 9'."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    strict_low, strict_high = kwargs.get("strict_min", False), kwargs.get("strict_max", False)
    if low is not None and high is not None:
        return f"{'(' if strict_low else '['}{_num(low)}, {_num(high)}{')' if strict_high else ']'}"
    if low is not None:
        return f"{'>' if strict_low else '>='} {_num(low)}"
    if high is not None:
        return f"{'<' if strict_high else '<='} {_num(high)}"
    return "any value"


def _outside(kwargs: dict[str, Any]) -> str:
    """The complement of ``_range`` as a phrase: 'outside [0, 100]', 'below 1', '<= 0', 'above 9'."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        return f"outside {_range(kwargs)}"
    if low is not None:
        return f"<= {_num(low)}" if kwargs.get("strict_min") else f"below {_num(low)}"
    if high is not None:
        return f">= {_num(high)}" if kwargs.get("strict_max") else f"above {_num(high)}"
    return "out of range"


def _reason(meta: Any) -> str:
    """A suite's short explanation from the expectation's meta (``reconciliation`` or ``why``)."""
    if not isinstance(meta, dict):
        return ""
    for key in ("reconciliation", "why"):
        text = meta.get(key)
        if isinstance(text, str) and text:
            return text if len(text) <= 120 else text[:117] + "..."
    return ""


def _columns(kwargs: dict[str, Any]) -> str:
    return "(" + ", ".join(str(c) for c in kwargs.get("column_list", [])) + ")"


# ---- one describer per expectation type --------------------------------------------------------
def _not_null(config: dict[str, Any], kwargs: dict[str, Any], observed: dict[str, Any]) -> str:
    return _share(observed, kwargs, f"no {kwargs['column']} (null)", of_nonnull=False, examples=False)


def _values_between(config: dict[str, Any], kwargs: dict[str, Any], observed: dict[str, Any]) -> str:
    return _share(observed, kwargs, f"{kwargs['column']} {_outside(kwargs)}")


def _in_set(config: dict[str, Any], kwargs: dict[str, Any], observed: dict[str, Any]) -> str:
    return _share(observed, kwargs, f"{kwargs['column']} not in {_values(kwargs.get('value_set') or [])}")


def _unique(config: dict[str, Any], kwargs: dict[str, Any], observed: dict[str, Any]) -> str:
    return _share(observed, kwargs, f"a duplicated {kwargs['column']}", plural_verb="share",
                  singular_verb="has")


def _compound_unique(config: dict[str, Any], kwargs: dict[str, Any], observed: dict[str, Any]) -> str:
    count = observed.get("unexpected_count")
    columns = _columns(kwargs)
    if count is None:
        return f"duplicate {columns} rows; {_allowed(kwargs)}"
    percent = observed.get("unexpected_percent")
    share = f" ({_pct(percent)} of rows)" if percent is not None else ""
    noun = "row" if count == 1 else "rows"
    return f"{_num(count)} duplicate {columns} {noun}{share}{_examples(observed)}; {_allowed(kwargs)}"


def _match_regex(config: dict[str, Any], kwargs: dict[str, Any], observed: dict[str, Any]) -> str:
    return _share(observed, kwargs, f"{kwargs['column']} not matching /{kwargs.get('regex')}/")


def _not_match_regex(config: dict[str, Any], kwargs: dict[str, Any], observed: dict[str, Any]) -> str:
    return _share(observed, kwargs, f"{kwargs['column']} matching /{kwargs.get('regex')}/")


def _a_greater_than_b(config: dict[str, Any], kwargs: dict[str, Any], observed: dict[str, Any]) -> str:
    a, b = kwargs["column_A"], kwargs["column_B"]
    op, required = ("<", ">=") if kwargs.get("or_equal") else ("<=", ">")
    return _share(observed, kwargs, f"{a} {op} {b} ({a} {required} {b} required)")


def _pair_equal(config: dict[str, Any], kwargs: dict[str, Any], observed: dict[str, Any]) -> str:
    return _share(observed, kwargs, f"{kwargs['column_A']} != {kwargs['column_B']}")


def _row_count_between(config: dict[str, Any], kwargs: dict[str, Any], observed: dict[str, Any]) -> str:
    count = observed.get("observed_value")
    if count is None:
        return f"row count is outside the allowed {_range(kwargs)}"
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        return f"row count {_num(count)} is outside {_range(kwargs)}"
    if low is not None:
        return f"row count {_num(count)} is below the minimum {_num(low)}"
    return f"row count {_num(count)} is above the maximum {_num(high)}"


def _row_count_equal(config: dict[str, Any], kwargs: dict[str, Any], observed: dict[str, Any]) -> str:
    count = observed.get("observed_value")
    expected = _num(kwargs.get("value"))
    if count is None:
        return f"row count differs from the expected {expected}"
    return f"row count {_num(count)} differs from the expected {expected}"


def _aggregate_between(what: str) -> Describer:
    def describe_aggregate(config: dict[str, Any], kwargs: dict[str, Any], observed: dict[str, Any]) -> str:
        value = observed.get("observed_value")
        shown = "unknown" if value is None else _num(value)
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if low is not None and low == high:
            return f"{what} of {kwargs['column']} is {shown}; exactly {_num(low)} expected"
        return f"{what} of {kwargs['column']} is {shown}; {_range(kwargs)} allowed"

    return describe_aggregate


def _distinct_contain_set(config: dict[str, Any], kwargs: dict[str, Any], observed: dict[str, Any]) -> str:
    required = list(kwargs.get("value_set") or [])
    found = observed.get("observed_value")
    missing = observed.get("partial_missing_list")
    if missing is None and isinstance(found, list):
        missing = [v for v in required if v not in found]
    if missing is None:
        return f"{kwargs['column']} lacks some of the values {_values(required)} it must contain"
    seen = f" (found {_values(found)})" if isinstance(found, list) else ""
    return f"{kwargs['column']} lacks the value(s) {_values(missing)} it must contain{seen}"


def _generic(config: dict[str, Any], kwargs: dict[str, Any], observed: dict[str, Any]) -> str:
    """Any other expectation: its id, what was observed, and its arguments."""
    parts = [f"{expectation_id(config)} failed"]
    if "observed_value" in observed:
        parts.append(f"observed {_value(observed['observed_value'])}")
    if observed.get("unexpected_count") is not None:
        parts.append(f"{_rows(observed['unexpected_count'])} ({_pct(observed.get('unexpected_percent'))}) "
                     f"unexpected{_examples(observed)}")
    shown = {k: v for k, v in kwargs.items() if k not in ("column", "column_list", "column_A", "batch_id")}
    if shown:
        parts.append("allowed: " + ", ".join(f"{k}={_value(v)}" for k, v in shown.items()))
    return "; ".join(parts)


_DESCRIBERS: dict[str, Describer] = {
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_between": _values_between,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_be_unique": _unique,
    "expect_compound_columns_to_be_unique": _compound_unique,
    "expect_column_values_to_match_regex": _match_regex,
    "expect_column_values_to_not_match_regex": _not_match_regex,
    "expect_column_pair_values_a_to_be_greater_than_b": _a_greater_than_b,
    "expect_column_pair_values_to_be_equal": _pair_equal,
    "expect_table_row_count_to_be_between": _row_count_between,
    "expect_table_row_count_to_equal": _row_count_equal,
    "expect_column_mean_to_be_between": _aggregate_between("mean"),
    "expect_column_sum_to_be_between": _aggregate_between("sum"),
    "expect_column_distinct_values_to_contain_set": _distinct_contain_set,
}


def described_types() -> frozenset[str]:
    """The expectation types with their own wording (every other type gets the generic line)."""
    return frozenset(_DESCRIBERS)
