-- The jobs catalogue lists every scheduled DAG with its schedule; the intraday DAG
-- (dags/macroquant_intraday.py) was added without its row. tests/test_dags.py checks that
-- every DAG has a row here with the DAG's own schedule.
INSERT INTO jobs (job_name, description, dag_id, schedule) VALUES
    ('intraday_bars', 'refresh active instruments'' latest bars in their sessions → publish through validate → due execution slices',
     'macroquant_intraday', '*/15 * * * *');
