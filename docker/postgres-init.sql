-- Run once by the postgres image, on an empty data volume only, as POSTGRES_USER inside
-- POSTGRES_DB (the MacroQuant database, `macroquant`).
--
-- Airflow keeps its metadata in a separate database, `airflow`, so that MacroQuant's
-- migrations and Airflow's never share a schema. Both databases belong to the same role.
-- MacroQuant's own tables are created later by `macroquant db migrate`, which the
-- airflow-init service runs; they are not created here.
CREATE DATABASE airflow;
