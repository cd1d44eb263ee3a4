-- The catalog database is created by POSTGRES_DB; Airflow's metadata lives beside it.
CREATE DATABASE airflow OWNER lakehouse;
