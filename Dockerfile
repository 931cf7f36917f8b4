# Image for docker-compose.yaml, used by the Airflow services and the dashboard. It is NOT
# built or exercised by CI.
#
# It starts from the official Airflow image, in the "slim" variant: that variant has few
# providers preinstalled, so MacroQuant's pinned set (requirements.txt, which pins
# apache-airflow itself to the same version) installs over it without version conflicts.
# MacroQuant is installed in editable mode at /opt/macroquant. Compose mounts the working
# tree over that path, so code edits take effect without a rebuild. Rebuild after
# requirements.txt changes.
ARG AIRFLOW_IMAGE=apache/airflow:slim-3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

# The official image installs Python packages as the unprivileged `airflow` user.
USER airflow

COPY --chown=airflow:0 requirements.txt /tmp/macroquant-requirements.txt
RUN pip install --no-cache-dir -r /tmp/macroquant-requirements.txt

COPY --chown=airflow:0 pyproject.toml README.md /opt/macroquant/
COPY --chown=airflow:0 macroquant /opt/macroquant/macroquant
RUN pip install --no-cache-dir --no-deps -e /opt/macroquant \
    && mkdir -p /opt/airflow/macroquant-home /opt/airflow/auth

ENV MACROQUANT_HOME=/opt/airflow/macroquant-home \
    GX_ANALYTICS_ENABLED=False
