from django.db import migrations, models

# The planner takes item and choice as independent: a filter such as agency_type = national (30 % of
# the respondents) was estimated at under 1,000 rows, so it chose a nested loop over every respondent
# (0.4 s per item at 100,000 responses). Joint statistics of the (item, choice) pairs (a few hundred per
# edition) correct the estimate. PostgreSQL only; SQLite has no such statistics.
STATISTICS = [
    "CREATE STATISTICS IF NOT EXISTS answer_item_choice_stats (mcv) ON item_id, choice FROM responses_answer",
    "ALTER STATISTICS answer_item_choice_stats SET STATISTICS 1000",
    "ANALYZE responses_answer",
]


def statistics_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in STATISTICS:
            schema_editor.execute(statement)


def statistics_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP STATISTICS IF EXISTS answer_item_choice_stats")


class Migration(migrations.Migration):
    dependencies = [
        ("responses", "0005_results_index_only"),
        ("surveys", "0001_initial"),
    ]

    operations = [
        # Numbers with their respondents, so a filtered number item is an index-only scan too.
        migrations.AddIndex(
            model_name="answer",
            index=models.Index(fields=["item", "number"], include=("response",), name="answer_item_number"),
        ),
        # Last, so the answers always have an (item, number) index.
        migrations.RemoveIndex(model_name="answer", name="responses_a_item_id_92ff21_idx"),
        migrations.RunPython(statistics_create, statistics_drop),
    ]
