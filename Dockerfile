# Production image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY apps ./apps
COPY config ./config
RUN pip install . && useradd --create-home verity
COPY manage.py ./
COPY templates ./templates
COPY static ./static
# collectstatic needs settings; these throwaway values never reach a running container.
RUN DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    SECRET_KEY=collectstatic-only-$(python -c "import secrets;print(secrets.token_urlsafe(48))") \
    STATIC_ROOT=/app/staticfiles python manage.py collectstatic --no-input -v 0
ENV STATIC_ROOT=/app/staticfiles MEDIA_ROOT=/data/media VERITY_DATA_DIR=/data
RUN mkdir -p /data && chown verity /data
USER verity
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
