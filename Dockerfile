# The bot's image: `python -m bot serve` as a non-root user, with git (the bot commits to govuk-helm-charts).
#
#   docker build -t govuk-deploy-bot .
#   docker build --build-arg BASE=python:3.11-slim-bookworm -t govuk-deploy-bot .
#
# BASE is any Debian-based image with python3 and its venv module (`make image-test` builds on a Debian base
# made from Debian's packages, because no image registry is reachable from CI). The app listens on PORT 3000;
# its probes are GET /healthz (alive) and GET /readyz (the store and the charts working copy are usable).
# Kubernetes probes those itself; HEALTHCHECK below is for `docker run` (Docker format; OCI images drop it).
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
# A virtual environment holding the bot and its dependencies, then without the tools that installed them.
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/python -m pip install --no-cache-dir --disable-pip-version-check . \
    && /opt/venv/bin/python -m pip uninstall --yes pip setuptools wheel \
    && find /opt/venv -name __pycache__ -type d -prune -exec rm -rf {} +

FROM ${BASE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# git for the working copy of govuk-helm-charts (already there on a base that has it);
# uid and gid 1001, as GOV.UK's generic-govuk-app chart runs every app.
# hadolint ignore=DL3008
RUN if ! command -v git >/dev/null; then \
        apt-get update \
        && apt-get install --yes --no-install-recommends git ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --gid 1001 app \
    && useradd --uid 1001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=3000
USER 1001:1001
WORKDIR /home/app
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
CMD ["python", "-m", "bot", "serve"]
