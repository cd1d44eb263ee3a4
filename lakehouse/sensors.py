"""Airflow side of a declared :class:`lakehouse.pipeline.Wait` step: a sensor, deferrable by default.

:class:`WaitSensor` asks the step's condition once when the task starts. If the inputs are not there yet
it either defers to :class:`ReadinessTrigger` (the triggerer asks the condition every poke interval, in a
thread, until it is ready or the step's timeout is reached; no worker slot is held meanwhile) or, when the
step is not deferrable, pokes in its worker like any Airflow sensor. Either way a timeout fails the task
(no retry: waiting again would wait for the same files) with one line naming what was missing.

The trigger enforces the deadline itself, so it behaves the same under a real triggerer and under
``dag.test()`` (which runs triggers inline and ignores deferral timeouts). Imported only when a DAG with a
Wait step is built: Airflow modules only, no domain code (the condition is imported when it runs).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout
from airflow.triggers.base import BaseTrigger, TriggerEvent

CLASSPATH = "lakehouse.sensors.ReadinessTrigger"


def check_once(target: str, arguments: Mapping[str, Any], logical_date: str, run_id: str,
               params: Mapping[str, Any]) -> dict[str, Any]:
    """Ask a Wait condition once, in this process: ``{"ready", "detail", "summary"}`` (JSON-able)."""
    from lakehouse.orchestration import xcom_safe
    from lakehouse.pipeline import RunContext, Wait, check_wait
    from lakehouse.settings import get_settings

    run = RunContext(settings=get_settings(), logical_date=dt.date.fromisoformat(logical_date), run_id=run_id,
                     params=dict(params))
    found = check_wait(Wait("check", target, doc="", arguments=dict(arguments)), run)
    return {"ready": bool(found.ready), "detail": found.detail, "summary": xcom_safe(dict(found.summary))}


class ReadinessTrigger(BaseTrigger):
    """Fires once: when the Wait condition is ready, when ``deadline`` (epoch seconds) passes, or when the
    condition raises (``status`` ready / timeout / error, with the condition's last ``detail``)."""

    def __init__(self, *, target: str, arguments: Mapping[str, Any], logical_date: str, run_id: str,
                 params: Mapping[str, Any], poke_interval_s: float, deadline: float) -> None:
        super().__init__()
        self.target, self.arguments = target, dict(arguments)
        self.logical_date, self.run_id, self.params = logical_date, run_id, dict(params)
        self.poke_interval_s, self.deadline = float(poke_interval_s), float(deadline)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return CLASSPATH, {"target": self.target, "arguments": self.arguments, "logical_date": self.logical_date,
                           "run_id": self.run_id, "params": self.params, "poke_interval_s": self.poke_interval_s,
                           "deadline": self.deadline}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            try:
                found = await asyncio.to_thread(check_once, self.target, self.arguments, self.logical_date,
                                                self.run_id, self.params)
            except Exception as exc:  # the condition itself is broken: fail now, do not wait out the timeout
                from lakehouse.errors import explain

                yield TriggerEvent({"status": "error", "detail": explain(exc)})
                return
            if found["ready"]:
                yield TriggerEvent({"status": "ready", **found})
                return
            left = self.deadline - time.time()
            if left <= 0:
                yield TriggerEvent({"status": "timeout", **found})
                return
            self.log.info("not yet: %s (next look in %.0fs)", found["detail"], min(self.poke_interval_s, left))
            await asyncio.sleep(min(self.poke_interval_s, left))


class WaitSensor(BaseSensorOperator):
    """The sensor of a :class:`lakehouse.pipeline.Wait` step (see the module docstring)."""

    template_fields = ("logical_date_text", "run_id_text")

    def __init__(self, *, target: str, arguments: Mapping[str, Any] | None = None, defer_wait: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.arguments = dict(arguments or {})
        self.defer_wait = defer_wait
        self.logical_date_text = "{{ ds }}"
        self.run_id_text = "{{ run_id }}"
        self._last_detail = "not checked yet"

    def _params(self, context: Any) -> dict[str, Any]:
        from lakehouse.orchestration import xcom_safe

        return xcom_safe(dict(context.get("params") or {}))  # type: ignore[no-any-return]

    def _check(self, context: Any) -> dict[str, Any]:
        found = check_once(self.target, self.arguments, self.logical_date_text, self.run_id_text,
                           self._params(context))
        self._last_detail = found["detail"]
        return found

    def _timed_out(self, detail: str) -> AirflowSensorTimeout:
        from lakehouse.pipeline import wait_timeout_message

        return AirflowSensorTimeout(wait_timeout_message(self.task_id, self.timeout, self.poke_interval, detail))

    def poke(self, context: Any) -> bool | PokeReturnValue:
        found = self._check(context)
        if found["ready"]:
            self.log.info("ready: %s", found["detail"])
            return PokeReturnValue(True, {"detail": found["detail"], **found["summary"]})
        self.log.info("not yet: %s", found["detail"])
        return False

    def execute(self, context: Any) -> Any:
        if not self.defer_wait:
            try:
                return super().execute(context)
            except AirflowSensorTimeout:
                raise self._timed_out(self._last_detail) from None
        found = self._check(context)
        if found["ready"]:
            self.log.info("ready: %s", found["detail"])
            return {"detail": found["detail"], **found["summary"]}
        self.log.info("not yet: %s; deferring (poke every %ss, at most %ss)", found["detail"], self.poke_interval,
                      self.timeout)
        trigger = ReadinessTrigger(target=self.target, arguments=self.arguments,
                                   logical_date=self.logical_date_text, run_id=self.run_id_text,
                                   params=self._params(context), poke_interval_s=self.poke_interval,
                                   deadline=time.time() + self.timeout)
        # Airflow's own deferral timeout is a backstop only: the trigger answers "timeout" first.
        self.defer(trigger=trigger, method_name="execute_complete",
                   timeout=dt.timedelta(seconds=self.timeout + self.poke_interval + 60))

    def execute_complete(self, context: Any, event: Mapping[str, Any] | None = None) -> Any:
        event = dict(event or {})
        status, detail = event.get("status"), str(event.get("detail", "no event"))
        if status == "ready":
            self.log.info("ready: %s", detail)
            return {"detail": detail, **dict(event.get("summary") or {})}
        if status == "timeout":
            raise self._timed_out(detail)
        raise AirflowFailException(f"{self.task_id}: the wait condition {self.target} failed: {detail}")


def wait_sensor(step: Any, settings: Any) -> WaitSensor:
    """The Airflow task of a declared :class:`lakehouse.pipeline.Wait` ``step`` under ``settings``."""
    timeout, interval = float(step.timeout_s(settings)), float(step.poke_interval_s(settings))
    extra: dict[str, Any] = {}
    if timeout + interval + 60 > settings.airflow.task_timeout_s:  # the wait itself must fit in the task
        extra["execution_timeout"] = dt.timedelta(seconds=timeout + interval + 120)
    return WaitSensor(task_id=step.task_id, target=step.target, arguments=dict(step.arguments),
                      defer_wait=bool(step.deferrable(settings)), poke_interval=interval, timeout=timeout,
                      mode="poke", doc_md=step.doc, **extra)
