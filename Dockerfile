# fm-inspect ML backend for Label Studio.
#   docker build -t fm-inspect .
#   docker run -p 9090:9090 -v fm-models:/data/models \
#     -e LABEL_STUDIO_URL=http://label-studio:8080 -e LABEL_STUDIO_API_KEY=... fm-inspect
# In a container the backend listens on every interface (HOST=0.0.0.0): without BASIC_AUTH_USER and
# BASIC_AUTH_PASS it says loudly at start-up that it is open (docs/security.md).
# BASE_IMAGE lets air-gapped builders use a local base (see README, "Container").
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MODEL_DIR=/data/models \
    HF_HOME=/data/models/hf \
    MPLCONFIGDIR=/tmp/matplotlib \
    PORT=9090 \
    HOST=0.0.0.0 \
    WORKERS=1 \
    THREADS=32 \
    LOG_LEVEL=INFO \
    DEVICE=auto

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin fminspect \
 && mkdir -p /data/models /app \
 && chown -R fminspect:fminspect /data /app

WORKDIR /app
# the lock only: every transitive package pinned, every hash checked (`make lock` writes it)
COPY requirements.txt /app/requirements.txt
RUN pip install --require-hashes --no-deps -r /app/requirements.txt && pip check

COPY --chown=fminspect:fminspect ml_backend /app/ml_backend
COPY --chown=fminspect:fminspect model_zoo /app/model_zoo
COPY --chown=fminspect:fminspect label_config /app/label_config

USER fminspect
VOLUME ["/data/models"]
EXPOSE 9090

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-m", "ml_backend.server.healthcheck"]

CMD ["gunicorn", "-c", "ml_backend/server/gunicorn.conf.py", "ml_backend.server.wsgi:app"]
