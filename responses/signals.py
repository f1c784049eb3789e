import logging

from celery.signals import worker_ready

logger = logging.getLogger(__name__)


@worker_ready.connect
def _replenish_keys_on_worker_start(**_kwargs: object) -> None:
    """A worker that starts makes sure spare staging keys exist, so submissions never wait for one."""
    from responses.services import pool_keys_replenish

    try:
        pool_keys_replenish()
    except Exception:  # the worker must start even if the database is briefly away; beat retries
        logger.exception("could not replenish staging keys at worker start")
