#!/usr/bin/env bash
# `make airflow`: Airflow 3 on this repository's DAGs and settings, every server on 127.0.0.1.
#
# Runs the API server (REST API + UI), the scheduler (LocalExecutor), the DAG processor and the
# triggerer as separate processes, with the metadata DB under $AIRFLOW_HOME (default
# .lakehouse/airflow). The scheduler and triggerer run with --skip-serve-logs because Airflow's log
# server binds every interface; with a local executor the API server reads the task logs from disk.
# Ctrl-C (or SIGTERM) stops all four (a component that hangs in its shutdown is signalled again after
# LAKEHOUSE_STOP_GRACE_S, 30, and killed after as long again: infra/scripts/stop_components.sh). The
# admin password is generated once and printed when it is new.
#
# Environment: LAKEHOUSE_AIRFLOW_PORT (default 8280; 8793 is the scheduler's log port), AIRFLOW_HOME,
# LAKEHOUSE_* settings as everywhere else (see `lakehouse config`).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
bin="${LAKEHOUSE_VENV:-$root/.venv}/bin"
port="${LAKEHOUSE_AIRFLOW_PORT:-8280}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$root/.lakehouse/airflow}"
mkdir -p "$AIRFLOW_HOME"
export AIRFLOW__CORE__DAGS_FOLDER="$root/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$port"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$port"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$port/execution/"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
# The DAG processor picks up new and changed DAG files quickly on a laptop-sized repository.
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$bin:$PATH"
export GX_ANALYTICS_ENABLED=false

airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log" >&2; exit 1; }
# Placeholders the DAGs name (no secrets: the Spark master comes from settings at execution time).
conns="$AIRFLOW_HOME/connections.json"
printf '{"spark_lakehouse": {"conn_type": "spark", "host": "local[*]"},
  "kubernetes_default": {"conn_type": "kubernetes", "extra": {"in_cluster": false}}}\n' >"$conns"
airflow connections import --overwrite "$conns" >/dev/null 2>&1 || airflow connections import "$conns" >/dev/null

# shellcheck source=infra/scripts/stop_components.sh
source "$root/infra/scripts/stop_components.sh"
pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping Airflow..." >&2
  stop_components "${pids[@]}"
}
trap stop INT TERM EXIT

logs="$AIRFLOW_HOME/logs/components"
mkdir -p "$logs"
airflow api-server --host 127.0.0.1 --port "$port" >"$logs/api-server.log" 2>&1 & pids+=($!)
airflow scheduler --skip-serve-logs >"$logs/scheduler.log" 2>&1 & pids+=($!)
airflow dag-processor >"$logs/dag-processor.log" 2>&1 & pids+=($!)
airflow triggerer --skip-serve-logs >"$logs/triggerer.log" 2>&1 & pids+=($!)

for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/api/v2/monitor/health" >/dev/null 2>&1 && break
  sleep 1
done
passwords="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
echo "Airflow UI: http://127.0.0.1:$port (component logs: $logs)"
shown="$AIRFLOW_HOME/.password-shown"
if [ -f "$passwords" ] && [ ! -f "$shown" ]; then
  echo "login: $(python -c 'import json,sys; print("  ".join(f"{u} / {p}" for u, p in json.load(open(sys.argv[1])).items()))' "$passwords")"
  echo "(printed once; it stays in $passwords)"
  touch "$shown"
elif [ -f "$passwords" ]; then
  echo "login: the users in ${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS%%:*}; passwords in $passwords"
fi
echo "Ctrl-C stops every component."
wait -n "${pids[@]}"
echo "an Airflow component exited; see $logs" >&2
exit 1
