# guard: the unattended risk guard as a container. Installed the same way the README installs
# it (pinned by constraints.txt), without the dev and lab extras (no matplotlib, numpy, pillow).
# /var/lib/guard holds the outage journal (a named volume in docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY guard ./guard
RUN pip install -c constraints.txt .

COPY policies ./policies
COPY examples ./examples
RUN useradd --system --uid 10001 --home-dir /app guard \
    && mkdir -p /app/var /var/lib/guard \
    && chown guard /app/var /var/lib/guard
USER guard

EXPOSE 9308
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9308/health', timeout=4).status == 200 else 1)"

ENTRYPOINT ["guard"]
CMD ["run", "--config", "/app/examples/guard.docker.yaml"]
