# The real worker, the pool keys it holds and vetted officers: shared with the release tests.
from tests.responses.conftest import celery_worker, officers, worker_keys  # noqa: F401
