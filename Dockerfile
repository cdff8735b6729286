# One image for the worker, the API, migrations and the emulator; the command picks the role.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY . .
RUN pip install --no-cache-dir .
USER nobody
CMD ["python", "worker.py"]
