# fedbridge: a small image with no build tools in the final stage.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres,redis]'

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home /var/lib/fedbridge fedbridge \
 && mkdir -p /var/lib/fedbridge && chown fedbridge /var/lib/fedbridge
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /opt/fedbridge
COPY saml_metadata ./saml_metadata
USER fedbridge
ENV FEDBRIDGE_DATA_DIR=/var/lib/fedbridge
# The embedded store and its generated master.key: outlive the container.
VOLUME ["/var/lib/fedbridge"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
CMD ["fedbridge", "serve", "--host", "0.0.0.0", "--port", "8000"]
