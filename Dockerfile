FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY config config
COPY accounts accounts
COPY surveys surveys
COPY coding coding
COPY exports exports
COPY responses responses
COPY results results
COPY api api
COPY templates templates
COPY static static
COPY manage.py ./
RUN pip install --no-cache-dir -c constraints.txt . && useradd --system survey && mkdir -p /srv/data && chown survey /srv/data
USER survey
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn_conf.py"]
