# sarvanom serve -- the SDK's OpenAI-compatible gateway -- as a small non-root image.
#
#   docker build -t sarvanom-gateway .
#   docker run --rm -p 127.0.0.1:8000:8000 -e SARVANOM_GATEWAY_TOKEN \
#       -e OLLAMA_BASE_URL=http://host.docker.internal:11434 sarvanom-gateway
#
# The gateway binds 0.0.0.0 inside the container, which `sarvanom serve` allows only with
# a token: set SARVANOM_GATEWAY_TOKEN at run time (never here, never as a build argument),
# or the container exits at once with a one-line error. Provider settings (OLLAMA_BASE_URL,
# HUGGINGFACE_API_KEY, ...) come from the environment at run time too.

ARG PYTHON=3.12

FROM python:${PYTHON}-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml setup.cfg README.md LICENSE ./
COPY sarvanom_sdk ./sarvanom_sdk
COPY cli ./cli
# server: prometheus-client for /metrics; redis: shared state (docker-compose.yml).
ARG EXTRAS=server,redis
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[${EXTRAS}]"

FROM python:${PYTHON}-slim-bookworm
ARG EXTRAS=server,redis
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 sarvanom \
    && useradd --system --uid 10001 --gid sarvanom --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin sarvanom
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels "sarvanom-sdk[${EXTRAS}]" \
    && rm -rf /wheels
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# /health needs no token. Proxies are bypassed: the check is this container's loopback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:8000/health', timeout=4).close()"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["sarvanom", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8000"]
