"""Which snapshot training pins: named by the run, handed over by its own gate or by the Asset events
that triggered it, and only otherwise main's current one."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from lakehouse.orchestration import run_call
from lakehouse.pipeline import RunContext
from lakehouse.settings import LakehouseSettings
from lakehouse.training import pin_snapshots, published_by_upstream


def _run(tmp_path, **kwargs) -> RunContext:  # type: ignore[no-untyped-def]
    settings = LakehouseSettings(profile="local", home=tmp_path)
    return RunContext(settings, dt.date(2024, 1, 2), "r1", **kwargs)


def test_the_gate_summary_hands_over_the_published_snapshots(tmp_path) -> None:
    gate = {"published": {"gold.t": 11, "gold.u": None}}
    run = _run(tmp_path, upstream={"build_gold": {"rows": 3}, "gate_gold": gate, "skipped": None})
    assert published_by_upstream(run) == {"gold.t": 11}
    # no catalog is consulted for a handed-over table (this lake has none)
    assert pin_snapshots(run, ("gold.t",)) == {"gold.t": 11}


def test_snapshots_named_by_the_run_win_over_the_handed_over_ones(tmp_path) -> None:
    run = _run(tmp_path, params={"snapshots": '{"gold.t": 7}'}, upstream={"gate": {"published": {"gold.t": 11}}})
    assert pin_snapshots(run, ("gold.t",)) == {"gold.t": 7}


def test_a_run_triggered_by_asset_events_pins_the_snapshots_they_carry(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    older = SimpleNamespace(extra={"table": "gold.t", "snapshot_id": 3, "run_id": "a"})
    newer = SimpleNamespace(extra={"table": "gold.t", "snapshot_id": 4, "run_id": "b"})
    other = SimpleNamespace(extra={})  # an event from outside the lakehouse: ignored
    events = {"asset-1": [older, newer], "asset-2": [other]}
    handed = run_call("lakehouse.training:published_by_upstream", [], {}, ds="2024-01-02", run_id="r2",
                      params={}, triggering_asset_events=events)
    assert handed == {"gold.t": 4}
