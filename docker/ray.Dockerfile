# Ray head (and, with the same image, workers) with tradewind installed, so RLlib workers can
# import tradewind.rl (environment, RLModule, agents). Build context: the repository root.
#
# Ray Client needs the same Ray and Python (major.minor) versions on both sides: the tag must
# match ray==2.60.0 and Python 3.11 of requirements.txt; tests/foundation/test_compose.py checks it.
ARG RAY_IMAGE=rayproject/ray:2.60.0-py311-cpu
FROM ${RAY_IMAGE}

ARG EXTRA_INDEX_URL=""
# The Airflow containers write the shared tradewind-var volume as this uid (gid 0); the Ray head
# runs as the same uid so checkpoints and weight files are readable and writable by both.
ARG AIRFLOW_UID=50000

USER root
RUN mkdir -p /opt/tradewind/var \
    && chown -R ray /opt/tradewind \
    && (getent passwd "${AIRFLOW_UID}" >/dev/null \
        || useradd --uid "${AIRFLOW_UID}" --gid 0 --no-create-home --home-dir /tmp tradewind)
USER ray
WORKDIR /opt/tradewind

COPY --chown=ray requirements.txt ./
RUN pip install --no-cache-dir ${EXTRA_INDEX_URL:+--extra-index-url "$EXTRA_INDEX_URL"} \
        -r requirements.txt

COPY --chown=ray pyproject.toml README.md ./
COPY --chown=ray src ./src
COPY --chown=ray rl ./rl
COPY --chown=ray sql ./sql
RUN pip install --no-cache-dir --no-deps -e . \
    && python -c "import tradewind.settings, tradewind.rl, ray; assert ray.__version__ == '2.60.0'"

USER root
RUN chown -R "${AIRFLOW_UID}:0" /opt/tradewind/var && chmod -R g+rwX /opt/tradewind/var
USER ${AIRFLOW_UID}:0
ENV TRADEWIND_HOME=/opt/tradewind/var \
    HOME=/tmp
