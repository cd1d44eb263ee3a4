#!/usr/bin/env bash
# `make demo`: initialise the catalog, then run each pipeline's DAG once on the embedded default
# profile through Airflow (`airflow dags test`), and show what landed. Idempotent: rerunning
# replaces the same logical dates. Logs of each DAG run go to .lakehouse/demo-logs/.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=.venv/bin
DATE=${DEMO_DATE:-2024-01-02}
LOGS=.lakehouse/demo-logs
mkdir -p "$LOGS"
export AIRFLOW_HOME=${AIRFLOW_HOME:-$PWD/.lakehouse/airflow}
export AIRFLOW__CORE__DAGS_FOLDER=$PWD/dags AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__LOGGING__LOGGING_LEVEL=${AIRFLOW__LOGGING__LOGGING_LEVEL:-WARNING}
# One Spark session for the whole demo instead of a driver JVM per task (see README, Airflow).
export LAKEHOUSE_AIRFLOW__SPARK_TASK_MODE=${LAKEHOUSE_AIRFLOW__SPARK_TASK_MODE:-in_process}

step() { printf '\n== %s\n' "$*"; }

run_dag() {  # run_dag DAG_ID DATE [extra args]: one line of result, the full log on failure
  local dag=$1 date=$2; shift 2
  local log="$LOGS/$dag.log"
  local started=$SECONDS
  if "$BIN/airflow" dags test "$dag" "$date" "$@" >"$log" 2>&1; then
    echo "$dag $date: success in $((SECONDS - started)) s (log: $log)"
  else
    echo "$dag $date: FAILED (log: $log)"; tail -n 40 "$log"; exit 1
  fi
}

step "catalog + smoke job"
"$BIN/lakehouse" demo --date "$DATE"

step "Airflow metadata DB ($AIRFLOW_HOME)"
"$BIN/airflow" db migrate >"$LOGS/airflow-db.log" 2>&1 && echo "ready"

step "finance: landing files for $DATE, then finance_tick_processor"
"$BIN/lakehouse" generate ticks --date "$DATE" --symbols 5 --ticks 20000 >"$LOGS/generate-ticks.json"
run_dag finance_tick_processor "$DATE"

step "energy: December 2023 of one household, then energy_demand_forecast for the 2024-01-01 meter read"
"$BIN/lakehouse" generate energy --households 1 --start 2023-12-01 --end 2024-01-01 >"$LOGS/generate-energy.json"
run_dag energy_demand_forecast 2024-01-01

step "vision: MNIST-format files, then vision_cnn_classifier"
"$BIN/lakehouse" generate images --dataset mnist --n 2000 >"$LOGS/generate-images.json"
run_dag vision_cnn_classifier "$DATE" -c '{"dataset": "mnist"}'

step "what the lakehouse holds now"
"$BIN/lakehouse" tables
# One headline metric per model against its baseline (the full metrics are in metrics_json).
"$BIN/lakehouse" sql "
SELECT model_name, model_version,
  CASE
    WHEN model_name LIKE 'vision%' THEN
      concat('test accuracy ', round(get_json_object(metrics_json, '$.test_accuracy'), 3))
    WHEN model_name LIKE 'finance%' THEN
      concat('accuracy ', round(get_json_object(metrics_json, '$.model_accuracy'), 3),
             ' vs logistic ', round(get_json_object(metrics_json, '$.logistic_accuracy'), 3))
    ELSE
      concat('hourly RMSE ', round(get_json_object(metrics_json, '$.holdout.60.model.rmse'), 3),
             ' vs same hour yesterday ', round(get_json_object(metrics_json, '$.holdout.60.same_hour_yesterday.rmse'), 3))
  END AS headline
FROM ml.model_registry ORDER BY model_name"

step "run reports (charts per DAG run) and quality-gate Data Docs"
"$BIN/lakehouse" reports
echo
echo "Open a report or the Data Docs index in a browser:"
echo "  Data Docs:   $("$BIN/python" -c 'from lakehouse.quality import data_docs_index_uri; from lakehouse.settings import get_settings; print(data_docs_index_uri(get_settings()))')"
echo "  Airflow UI:  make airflow   (then http://127.0.0.1:8280; the login is printed once)"
echo "  Gold tables: .venv/bin/lakehouse sql \"SELECT * FROM gold.ohlcv_1m LIMIT 10\""
