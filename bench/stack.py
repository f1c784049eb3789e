"""The platform under load, for benchmarks, the load test and the fault tests: a fresh database with the
2017 reference edition open, many vetted officers with API tokens, and gunicorn / Celery worker processes
on loopback. Kept in one place so every harness sets the platform up the same way.

Functions that touch Django call `django_setup(env)` first (it configures this process once).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def django_env(*, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """Environment of a production-like process (DEBUG off) on loopback."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-secret",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_CONN_MAX_AGE": "600",
        "SECURE_COOKIES": "0",
        # Plain HTTP on loopback: production's default redirect to HTTPS is off here.
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def recreate_database(database_url: str) -> None:
    import psycopg2

    base, name = database_url.rsplit("/", 1)
    admin = psycopg2.connect(base + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def database_exists(database_url: str) -> bool:
    import psycopg2

    base, name = database_url.rsplit("/", 1)
    admin = psycopg2.connect(base + "/postgres")
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return cursor.fetchone() is not None
    finally:
        admin.close()


def django_setup(env: dict[str, str]) -> None:
    """Configure Django in this process with `env` (only the first call has an effect)."""
    os.environ.update(env | {"DJANGO_SETTINGS_MODULE": "config.settings"})
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def reference_edition_open(*, series_slug: str = "bench", label: str = "2017") -> Any:
    """Import a reference questionnaire as a new edition and open it for a day; return the edition."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.services import roles_ensure_groups
    from surveys import services
    from surveys.reference import REFERENCE_DIR

    roles_ensure_groups()
    series = services.series_get_or_create(slug=series_slug)
    with (REFERENCE_DIR / f"netclean-{label}.xlsx").open("rb") as fh:
        definition = services.definition_from_upload(fileobj=fh, filename=fh.name)
    edition = services.edition_import_definition(series=series, label=label, definition=definition)
    return services.edition_open(edition=edition, closes_at=timezone.now() + timedelta(days=1))


def officers_with_tokens(*, edition: Any, count: int, prefix: str = "officer") -> list[str]:
    """`count` vetted officers invited to `edition`, each with one API token; returns the tokens.

    Bulk creation: these accounts exist only to be authenticated by their tokens (no password)."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.utils import timezone
    from knox.models import AuthToken, get_digest_token
    from knox.settings import CONSTANTS, knox_settings

    from accounts.models import OfficerProfile, Participation, Role, User, VettingStatus

    unusable = make_password(None)
    users = User.objects.bulk_create(
        [User(email=f"{prefix}{i}@police.example", password=unusable) for i in range(count)],
        batch_size=2000,
    )
    officer_group = Group.objects.get(name=Role.OFFICER.value)
    User.groups.through.objects.bulk_create(
        [User.groups.through(user_id=u.pk, group_id=officer_group.pk) for u in users], batch_size=5000
    )
    OfficerProfile.objects.bulk_create(
        [OfficerProfile(user=u, vetting_status=VettingStatus.VETTED) for u in users], batch_size=5000
    )
    # Opening an edition invites the vetted officers of that moment; these came later, so invite them here.
    Participation.objects.bulk_create(
        [Participation(user=u, edition=edition) for u in users], batch_size=5000
    )
    # knox's own token generation and expiry, written in bulk (creating them one by one took minutes).
    tokens, rows = [], []
    expiry = timezone.now() + knox_settings.TOKEN_TTL
    for user in users:
        digest, token = get_digest_token()
        tokens.append(token)
        key = token[: CONSTANTS.TOKEN_KEY_LENGTH]
        rows.append(AuthToken(user=user, digest=digest, token_key=key, expiry=expiry))
    AuthToken.objects.bulk_create(rows, batch_size=5000)
    # Planner statistics for the rows just written, as autovacuum would gather them in production (it is
    # off on this machine's shared server; without them the token lookup's subqueries get slow plans).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return tokens


def answers_2017(count: int) -> list[dict[str, Any]]:
    """`count` complete, valid answer sets to the 2017 questionnaire: the demo's synthetic respondents
    (responses/demo.py, 435 per seed), further seeds when more are needed."""
    from responses.demo import demo_payloads_2017

    answers: list[dict[str, Any]] = []
    seed = 2017
    while len(answers) < count:
        answers += [p["answers"] for p in demo_payloads_2017(seed=seed)]
        seed += 1
    return answers[:count]


def prepare(*, officers: int, series_slug: str = "bench") -> dict[str, Any]:
    """In a migrated database: the 2017 edition open, `officers` vetted officers with API tokens and an
    answer set each, and spare staging keys in POOL_KEY_DIR (the worker's part, done ahead as its beat
    job would). Returns the plan the load drivers read: {"edition": id, "officers": [{token, answers}]}."""
    from responses.services import pool_keys_replenish

    edition = reference_edition_open(series_slug=series_slug)
    tokens = officers_with_tokens(edition=edition, count=officers, prefix=series_slug)
    answers = answers_2017(officers)
    pool_keys_replenish(spare=2)
    return {
        "edition": edition.pk,
        "officers": [{"token": t, "answers": a} for t, a in zip(tokens, answers, strict=True)],
    }


def release_now(edition_id: int) -> dict[str, Any]:
    """Close the edition and release its pool in this process (which must hold POOL_KEY_DIR); returns
    the counts on both sides before and after, and the released receipt digests."""
    from accounts.models import Participation, ParticipationStatus
    from responses.models import ReceiptDigest, Response, StagedSubmission
    from responses.services import pool_release
    from surveys.models import Edition, EditionStatus
    from surveys.services import edition_close

    edition = Edition.objects.get(pk=edition_id)
    staged = StagedSubmission.objects.filter(edition=edition).count()
    if edition.status == EditionStatus.OPEN:
        edition_close(edition=edition)  # queues a release too; the one below finds the pool empty or wins
    pool_release(edition_id=edition_id)
    return {
        "participations_submitted": Participation.objects.filter(
            edition=edition, status=ParticipationStatus.SUBMITTED
        ).count(),
        "staged_before_release": staged,
        "staged_after_release": StagedSubmission.objects.filter(edition=edition).count(),
        "responses_released": Response.objects.filter(edition=edition).count(),
        "receipt_digests": sorted(
            ReceiptDigest.objects.filter(edition=edition).values_list("digest", flat=True)
        ),
    }


def wait_for(url: str, *, timeout: float = 60, process: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=2).read()  # noqa: S310 - loopback URL we built
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not come up at {url}")


def gunicorn_start(
    *,
    env: dict[str, str],
    port: int,
    workers: int | None = None,
    threads: int | None = None,
    timeout: int = 30,
    log: Path | None = None,
    root: Path = ROOT,
) -> subprocess.Popen[bytes]:
    """gunicorn on 127.0.0.1:`port` with production's settings (config/gunicorn_conf.py), workers and
    threads per process as given or as there; the web side never sees the pool's private keys. `root`
    serves another source tree of the project (a benchmark's baseline) with this environment."""
    command = [
        str(VENV_BIN / "gunicorn"), "-c", str(root / "config" / "gunicorn_conf.py"),
        "-b", f"127.0.0.1:{port}", "--timeout", str(timeout), "--log-level", "warning",
    ]  # fmt: skip
    if workers is not None:
        command += ["-w", str(workers)]
    if threads is not None:
        command += ["--threads", str(threads)]
    out = log.open("ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        command, cwd=root, env=env | {"POOL_KEY_DIR": "/nonexistent"}, stdout=out, stderr=out
    )
    wait_for(f"http://127.0.0.1:{port}/healthz", process=process)
    return process


def celery_worker_start(
    *,
    env: dict[str, str],
    key_dir: Path,
    pool: str = "prefork",
    concurrency: int = 1,
    log: Path | None = None,
    beat: bool = False,
) -> subprocess.Popen[bytes]:
    """A real Celery worker process (its own session, so the whole worker can be killed at once).

    Returns once the worker has connected to the broker and is consuming."""
    command = [
        str(VENV_BIN / "celery"), "-A", "config", "worker", "--pool", pool, "--concurrency", str(concurrency),
        "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    if beat:
        command += ["--beat", "--schedule", str(key_dir.parent / "celerybeat-schedule")]
    log = log or key_dir.parent / "worker.log"
    out = log.open("ab")
    start = log.stat().st_size
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env | {"POOL_KEY_DIR": str(key_dir)},
        stdout=out,
        stderr=out,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited with {process.returncode}; see {log}")
        with log.open("rb") as fh:
            fh.seek(start)
            if b" ready." in fh.read():
                return process
        time.sleep(0.2)
    raise RuntimeError(f"the worker did not become ready; see {log}")


def stop(process: subprocess.Popen[Any] | None, *, timeout: float = 20) -> None:
    """Stop a process we started (and its own children), politely first."""
    if process is None or process.poll() is not None:
        return
    own_group = os.getpgid(process.pid) == process.pid

    def send(sig: int) -> None:
        try:
            os.killpg(process.pid, sig) if own_group else os.kill(process.pid, sig)
        except ProcessLookupError:
            return

    send(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        process.wait(timeout=timeout)
    if own_group:
        send(signal.SIGKILL)  # a pool child the worker left behind


def main() -> None:
    """`python bench/stack.py prepare OFFICERS PLAN_FILE` or `release EDITION_ID` (prints JSON), with
    DATABASE_URL, REDIS_URL and POOL_KEY_DIR in the environment: for harnesses that keep Django out of
    their own process (tests/faults/test_postgres_restart.py)."""
    import argparse
    import json

    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_command = commands.add_parser("prepare")
    prepare_command.add_argument("officers", type=int)
    prepare_command.add_argument("plan", type=Path)
    release_command = commands.add_parser("release")
    release_command.add_argument("edition", type=int)
    args = parser.parse_args()
    django_setup(django_env(database_url=os.environ["DATABASE_URL"], redis_url=os.environ["REDIS_URL"]))
    if args.command == "prepare":
        migrate()
        args.plan.write_text(json.dumps(prepare(officers=args.officers)))
    else:
        print(json.dumps(release_now(args.edition)))


if __name__ == "__main__":
    main()
