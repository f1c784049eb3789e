from typing import Any

from django.core.management.base import BaseCommand

from responses.services import pool_keys_replenish


class Command(BaseCommand):
    help = "Worker side: make sure spare staging keys exist (run where POOL_KEY_DIR is mounted)."

    def handle(self, *args: Any, **opts: Any) -> None:
        created = pool_keys_replenish()
        self.stdout.write(f"{created} staging key(s) created")
