# Airflow 3 with tradewind installed: the image of every Airflow service in docker-compose.yml.
# Build context: the repository root (docker compose build does this).
#
# The base tag must carry the same Airflow and Python versions as requirements.txt
# (apache-airflow==3.3.2, Python 3.11); tests/foundation/test_compose.py checks it.
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

# Optional extra package index for pip (e.g. a CPU-only PyTorch wheel index, so torch does not
# pull GPU libraries on x86_64); empty = PyPI only.
ARG EXTRA_INDEX_URL=""

USER root
# tradewind lives in /opt/tradewind (editable install: settings find sql/, dbt/ and the default
# var/ folder relative to the package). Owned by the image's airflow user (uid 50000, gid 0).
RUN mkdir -p /opt/tradewind/var /opt/airflow/auth \
    && chown -R airflow:0 /opt/tradewind /opt/airflow/auth \
    && chmod -R g+rwX /opt/tradewind /opt/airflow/auth
USER airflow
WORKDIR /opt/tradewind

# Dependencies first: this layer is rebuilt only when the pins change. Pinning apache-airflow to
# the base image's version keeps pip from replacing the Airflow the image was built with.
COPY --chown=airflow:0 requirements.txt ./
RUN pip install --no-cache-dir ${EXTRA_INDEX_URL:+--extra-index-url "$EXTRA_INDEX_URL"} \
        "apache-airflow==${AIRFLOW_VERSION}" -r requirements.txt

COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 src ./src
COPY --chown=airflow:0 rl ./rl
COPY --chown=airflow:0 sql ./sql
COPY --chown=airflow:0 dbt ./dbt
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 plugins ./plugins
RUN pip install --no-cache-dir --no-deps -e . \
    && python -c "import tradewind.settings, tradewind.rl" \
    && tradewind --help >/dev/null

ENV TRADEWIND_HOME=/opt/tradewind/var \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/tradewind/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/tradewind/plugins
