# The goodsflow worker image used by docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY goodsflow goodsflow
COPY schemas schemas
COPY producers producers
COPY streams streams
COPY graph graph
COPY stack stack
RUN pip install --no-cache-dir .
USER nobody
CMD ["goodsflow", "worker"]
