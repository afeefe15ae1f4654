# The dashboard, its ETL and the embedded data in one image (docs/deployer.md).
# The same image runs the dashboard replicas, the first data publication and the scheduled refresh.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OBSERVATOIRE_DATA=/app/data \
    OBSERVATOIRE_ROOT=/srv/observatoire

# an unprivileged user; the data volume belongs to it (a named volume takes this owner when first mounted)
RUN groupadd --system --gid 10001 observatoire \
    && useradd --system --uid 10001 --gid observatoire --home-dir /app --shell /usr/sbin/nologin observatoire \
    && mkdir -p /srv/observatoire \
    && chown observatoire:observatoire /srv/observatoire

WORKDIR /app

# dependencies first: this layer is rebuilt only when pyproject.toml changes
COPY pyproject.toml README.md ./
COPY etl/__init__.py etl/__init__.py
COPY dashboard/__init__.py dashboard/__init__.py
RUN pip install --no-cache-dir -e .

# the code, the Streamlit settings and the embedded marts (data/raw is left out by .dockerignore)
COPY --chown=observatoire:observatoire app.py ./
COPY --chown=observatoire:observatoire .streamlit/ .streamlit/
COPY --chown=observatoire:observatoire etl/ etl/
COPY --chown=observatoire:observatoire dashboard/ dashboard/
COPY --chown=observatoire:observatoire data/ data/

USER 10001:10001
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"]

CMD ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
