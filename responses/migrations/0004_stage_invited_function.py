"""The submission's transaction as one PostgreSQL function (responses/services.py::_stage_invited).

One statement instead of BEGIN, the pool lock, the Participation UPDATE, the sealing-key read, the INSERT
and COMMIT: fewer round trips and no ORM compilation for them (docs/performance.md, "Submissions"). It
does only the usual case and writes nothing otherwise; every other case goes through the Python path,
which has the same locks in the same order. Values that are rules elsewhere (the lock namespace, the
statuses, the answer window as checked in Python) come in as arguments. PostgreSQL only: SQLite (the
embedded `make run`) takes the Python path.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION responses_stage_invited(
    lock_namespace integer,
    edition bigint,
    officer bigint,
    sealing_key uuid,
    sealed bytea,
    -- The edition's window as the caller read and checked it: the submission is taken only if it is
    -- still the same under the pool lock (a close that committed meanwhile makes it differ).
    window_status text,
    window_opens_at timestamptz,
    window_closes_at timestamptz,
    key_active text,
    invited text,
    submitted text
) RETURNS text
LANGUAGE plpgsql
AS $$
BEGIN
    -- Ordered against a release, which takes this lock exclusively before it retires the active key.
    PERFORM pg_advisory_xact_lock_shared(lock_namespace, edition::integer);
    PERFORM 1
    FROM responses_poolkey k
    WHERE k.id = sealing_key AND k.edition_id = edition AND k.status = key_active;
    IF NOT FOUND THEN
        RETURN 'stale_key';
    END IF;
    PERFORM 1
    FROM surveys_edition e
    WHERE e.id = edition
      AND e.status = window_status
      AND e.opens_at IS NOT DISTINCT FROM window_opens_at
      AND e.closes_at IS NOT DISTINCT FROM window_closes_at;
    IF NOT FOUND THEN
        RETURN 'window_changed';
    END IF;
    -- Holds the row's lock until commit: a second tab's UPDATE waits, then finds the row not invited.
    UPDATE accounts_participation p
    SET status = submitted
    WHERE p.user_id = officer AND p.edition_id = edition AND p.status = invited;
    IF NOT FOUND THEN
        RETURN 'not_invited';
    END IF;
    INSERT INTO responses_stagedsubmission (id, edition_id, key_id, sealed)
    VALUES (gen_random_uuid(), edition, sealing_key, sealed);
    RETURN 'staged';
END
$$;
"""

DROP = """
DROP FUNCTION IF EXISTS responses_stage_invited(
    integer, bigint, bigint, uuid, bytea, text, timestamptz, timestamptz, text, text, text
);
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("responses", "0003_ballots"),
        ("accounts", "0007_participation_ballot_request_digest"),
        ("surveys", "0001_initial"),
    ]

    operations = [migrations.RunPython(create, drop)]
