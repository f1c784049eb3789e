"""Benchmark: complete 2017-questionnaire submissions through the API under gunicorn, against a trivial
view under the same server in the same run (DESIGN "Numbers to reach"). Prints one JSON object.

Needs PostgreSQL and Redis on this machine and `wrk` (Debian package). Loopback only, bounded in time.
Run with `make bench-submissions`.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import stack  # noqa: E402 - the repository root is on the path only from here

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_survey")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
PORT = int(os.environ.get("BENCH_PORT", "8799"))
# Unset: production's gunicorn settings (config/gunicorn_conf.py); set to compare other counts.
WORKERS = int(os.environ["BENCH_WORKERS"]) if os.environ.get("BENCH_WORKERS") else None
THREADS = int(os.environ["BENCH_THREADS"]) if os.environ.get("BENCH_THREADS") else None
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
# Enough for 3 wrk runs at ≈ 450/s (wrk's threads may hand out up to twice their share) and the paced run.
OFFICERS = int(os.environ.get("BENCH_OFFICERS", "16000"))

COMPLETE_2017 = {
    "country": "SE", "agency_type": "national", "workload_change": "increased",
    "workload_reasons": "Bigger hard drives and more devices per suspect; encrypted phones.",
    "better_equipped": "yes", "better_equipped_reasons": ["tools", "education", "other"],
    "better_equipped_other": "A dedicated victim identification team",
    "avg_case_images_total": 60000, "avg_case_images_csam": 8000, "avg_case_video_hours": "7.5",
    "largest_case_images_total": 2000000, "largest_case_images_csam": 400000, "largest_case_terabytes": "12",
    "offender_age": ["30_40", "40_50"], "offender_marital": "partner", "children_proximity": "common",
    "access_family": "very_common", "access_extended_family": "common", "access_friends": "common",
    "access_recreation": "uncommon", "access_professional": "uncommon", "offender_employment": "employed",
    "offender_professions": "All walks of life, some teachers.", "offender_changed": "yes",
    "offender_change_how": "Younger and better at hiding.", "viewing_handson_correlation": "occasionally",
    "correlation_comment": "Hard to say.", "contact_parent": "very_common", "contact_relative": "common",
    "contact_friends": "common", "contact_internet": "common", "contact_recreation": "uncommon",
    "contact_workplace": "uncommon", "contact_travel": "uncommon", "workplace_private": "yes",
    "workplace_public": "no", "workplace_comment": "Mostly private sector.",
    "trends": "Live streaming, apps and chatrooms, TOR.", "children_rescued": 14,
}  # fmt: skip


def django_env() -> dict[str, str]:
    return stack.django_env(database_url=DB_URL, redis_url=REDIS_URL)


def setup(key_dir: Path, token_file: Path) -> int:
    """Migrate, import and open 2017, create officers with API tokens, make staging keys."""
    stack.django_setup(django_env() | {"POOL_KEY_DIR": str(key_dir)})
    stack.migrate()
    from responses.services import pool_keys_replenish

    edition = stack.reference_edition_open()
    tokens = stack.officers_with_tokens(edition=edition, count=OFFICERS, prefix="bench")
    token_file.write_text("\n".join(tokens) + "\n")
    pool_keys_replenish(spare=2)
    return edition.pk


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (0 once it is gone); PostgreSQL's backends included."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def cpu_snapshot(server: subprocess.Popen[bytes]) -> dict[str, dict[int, float]]:
    """CPU seconds so far of the gunicorn processes and of the bench database's PostgreSQL backends (this
    process's own backend left out), for CPU per submission: robust where wall-clock rates are not."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        backends = [row[0] for row in cursor.fetchall()]
    web = [server.pid, *_children(server.pid)]
    return {
        "web": {pid: _cpu_seconds(pid) for pid in web},
        "postgres": {pid: _cpu_seconds(pid) for pid in backends},
    }


def cpu_ms_per_request(before: dict, after: dict, requests: int) -> dict[str, float]:
    """Per request, in ms: CPU spent between two snapshots (a process new since `before` counts whole)."""
    return {
        side: round(
            sum(cpu - before[side].get(pid, 0.0) for pid, cpu in after[side].items()) * 1000 / requests, 2
        )
        for side in after
    }


def wrk(url: str, *, script: Path | None = None, seconds: int = SECONDS, connections: int = 32) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", str(script)]
    children_before = os.times()
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    children_after = os.times()
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    wrk_cpu = (children_after.children_user + children_after.children_system) - (
        children_before.children_user + children_before.children_system
    )
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    refused: dict[str, int] = {}
    for status, n in re.findall(r"^refused (\d+) (\d+)$", out, re.MULTILINE):
        refused[status] = refused.get(status, 0) + int(n)
    handed_out = re.search(r"^tokens_handed_out (\d+)$", out, re.MULTILINE)
    return {
        "rps": rps,
        "requests": requests,
        "wrk_cpu_ms_per_request": round(wrk_cpu * 1000 / max(requests, 1), 3),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "non_2xx_by_status": refused,
        "p99": _ms(p99) if p99 else None,
        "tokens_handed_out": int(handed_out.group(1)) if handed_out else 0,
    }


def _ms(match: re.Match[str]) -> float:
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk_script(tokens: list[str], edition_id: int, path: Path) -> None:
    body = json.dumps({"answers": COMPLETE_2017}).replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(
        "local tokens = {"
        + ",".join(f'"{t}"' for t in tokens)
        + "}\n"
        + """
counter = 0 -- global: done() reads it from each thread
local threads = {}
function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end
function init(args)
  counter = offset
end
function request()
  counter = counter + 2
  local token = tokens[counter]
  if token == nil then token = "exhausted" end
  return wrk.format("POST", "/api/v1/editions/"""
        + str(edition_id)
        + """/responses/", {["Authorization"] = "Token " .. token, ["Content-Type"] = "application/json"}, \""""
        + body
        + """\")
end
-- Refusals by status code, so that the report says what the non-2xx responses were.
refused = {}
function response(status, headers, body)
  if status ~= 201 then refused[status] = (refused[status] or 0) + 1 end
end
-- Each thread strides through the tokens from its own offset, so the busiest thread says how many were
-- handed out (requests still in flight when wrk stopped included).
function done(summary, latency, requests)
  local handed_out = 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("refused")) do io.write("refused " .. status .. " " .. n .. "\\n") end
    handed_out = math.max(handed_out, thread:get("counter"))
  end
  io.write("tokens_handed_out " .. handed_out .. "\\n")
end
"""
    )


def fixed_rate(url: str, tokens: list[str], rate: int, seconds: int) -> dict:
    """Offer `rate` requests per second for `seconds` and record each latency."""
    import requests

    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    start = time.monotonic()
    body = json.dumps({"answers": COMPLETE_2017})

    def send(i: int) -> None:
        due = start + i / rate
        time.sleep(max(0.0, due - time.monotonic()))
        t0 = time.perf_counter()
        r = requests.post(
            url,
            data=body,
            headers={"Authorization": f"Token {tokens[i]}", "Content-Type": "application/json"},
            timeout=30,
        )
        with lock:
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses.append(r.status_code)

    if len(tokens) < rate * seconds:
        sys.exit(
            f"only {len(tokens)} officers left for {rate * seconds} paced submissions: raise BENCH_OFFICERS"
        )
    threads = [threading.Thread(target=send, args=(i,)) for i in range(rate * seconds)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return {
        "offered_per_s": rate,
        "requests": len(latencies),
        "p50_ms": round(latencies[len(latencies) // 2], 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95)], 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)], 1),
        "non_201": sum(1 for s in statuses if s != 201),
    }


def _server_description() -> str:
    conf = runpy.run_path(str(ROOT / "config" / "gunicorn_conf.py"))
    workers, threads = WORKERS or conf["workers"], THREADS or conf["threads"]
    return (
        f"gunicorn -c config/gunicorn_conf.py: {workers} {conf['worker_class']} workers x {threads} threads"
    )


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    stack.recreate_database(DB_URL)
    work = Path(tempfile.mkdtemp(prefix="bench-submissions-"))
    token_file = work / "tokens.txt"
    edition_id = setup(work / "keys", token_file)
    tokens = token_file.read_text().split()
    server = stack.gunicorn_start(env=django_env(), port=PORT, workers=WORKERS, threads=THREADS)
    try:
        base = f"http://127.0.0.1:{PORT}"
        trivial = [wrk(f"{base}/healthz")["rps"] for _ in range(RUNS)]
        used = 0
        submit_runs = []
        for _ in range(RUNS):
            script = work / "submit.lua"
            wrk_script(tokens[used:], edition_id, script)
            before = cpu_snapshot(server)
            result = wrk(f"{base}/api/v1/editions/{edition_id}/responses/", script=script)
            cpu = cpu_ms_per_request(before, cpu_snapshot(server), max(result["requests"], 1))
            result["cpu_ms_per_submission"] = cpu | {"wrk": result["wrk_cpu_ms_per_request"]}
            used += result["tokens_handed_out"] + 1  # no officer answers twice across runs
            submit_runs.append(result)
        rate_tokens = tokens[used + 500 :]
        paced = fixed_rate(f"{base}/api/v1/editions/{edition_id}/responses/", rate_tokens, 100, 8)
    finally:
        stack.stop(server)
    from accounts.models import Participation, ParticipationStatus
    from responses.models import Response, StagedSubmission
    from responses.services import pool_release

    submitted = Participation.objects.filter(status=ParticipationStatus.SUBMITTED).count()
    staged = StagedSubmission.objects.count()
    released = pool_release(edition_id=edition_id)
    submit_rps = [r["rps"] for r in submit_runs]
    best_peer = 33.0  # django-survey-and-report on SQLite, measured here (DESIGN)
    report = {
        "benchmark": "submissions",
        "server": _server_description(),
        "trivial_view_rps": {
            "median": round(statistics.median(trivial)),
            "runs": [round(x) for x in trivial],
        },
        "submissions_rps": {
            "median": round(statistics.median(submit_rps), 1),
            "runs": [round(x, 1) for x in submit_rps],
            "p99_ms": [r["p99"] for r in submit_runs],
            # CPU of each side per request of each run (web: gunicorn; postgres: the bench database's
            # backends; wrk: the load generator): less disturbed by other load than the rates.
            "cpu_ms_per_submission": [r["cpu_ms_per_submission"] for r in submit_runs],
            "non_2xx": sum(r["non_2xx"] for r in submit_runs),
            "non_2xx_by_status": [r["non_2xx_by_status"] for r in submit_runs],
        },
        "ratio_to_trivial_view": round(statistics.median(submit_rps) / statistics.median(trivial), 3),
        "ratio_to_best_peer": round(statistics.median(submit_rps) / best_peer, 1),
        "at_100_per_s": paced,
        "accounting": {
            "participations_submitted": submitted,
            "staged": staged,
            "released": released,
            "responses_in_db": Response.objects.count(),
            "lost": submitted - Response.objects.count(),
        },
        "targets": {"submissions_rps": 300, "p95_ms_at_100_per_s": 100, "ratio_to_trivial_view": 0.06},
    }
    print(json.dumps(report, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
