"""gunicorn settings of the web process: the one place for them (Dockerfile, docker-compose.yml and
bench/stack.py all run `gunicorn -c config/gunicorn_conf.py`).

Threaded workers, two processes per core with 4 threads each: a submission spends much of its time
waiting for PostgreSQL round trips, so a process serves other requests meanwhile, and two processes
per core keep the cores busy despite each process's interpreter lock. Keep-alive lets API clients and a
proxy reuse connections (sync workers close every one). Measured against sync workers and other
counts on the 2-core development machine: docs/performance.md. Each thread keeps its own
database connection (CONN_MAX_AGE), so WEB_WORKERS x WEB_THREADS per web container must fit in
PostgreSQL's max_connections (docs/operations.md).
"""

import os

wsgi_app = "config.wsgi:application"
bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", "4"))
threads = int(os.environ.get("WEB_THREADS", "4"))
# Seconds an idle keep-alive connection stays open.
keepalive = int(os.environ.get("WEB_KEEPALIVE", "5"))
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
# Recycle a worker after this many requests (jittered so they do not all restart at once): bounds
# memory growth from any leak; 0 turns it off.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
# No runtime control socket: nothing in a container uses gunicornc.
control_socket_disable = True
# No access log: request times next to the submission path would be a timing side channel
# (docs/operations.md). Errors still go to stderr.
accesslog = None
loglevel = os.environ.get("WEB_LOG_LEVEL", "info")


def post_worker_init(worker: object) -> None:
    """Build the quote redactor (exports/anonymise/pii.py) before the worker takes requests: building it
    loads gazetteers (2 CPU-seconds), which the first results page with quotes would otherwise wait for
    in every new worker, even when its figures come from the cache."""
    import logging

    from exports.anonymise.pii import redactor

    try:
        redactor()
    except Exception:  # the worker must serve submissions even so; a quote page retries the build
        logging.getLogger(__name__).exception("could not build the quote redactor at worker start")
