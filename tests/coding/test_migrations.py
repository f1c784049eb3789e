"""Upgrading a database that has codes from before the kept final codes (coding 0004): the migrations
keep them, as every write does (coding/migrations/0007_refresh_final_codes.py runs the live refresh, so
it must stay after every migration creating a table the refresh reads)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from coding.models import CategorySeen, FinalCode, FinalCoding
from tests.coding.conftest import add_answers

BEFORE = [("coding", "0003_answer_embedding")]


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_from_before_the_kept_final_codes_keeps_the_codes_people_gave(open_2017):
    answers = add_answers(open_2017, "workload_reasons", ["more cases", "more data", "less staff"])
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    codebook = old.get_model("coding", "Codebook").objects.create(
        edition_id=open_2017.pk, item_code="workload_reasons"
    )
    Category = old.get_model("coding", "Category")
    more_cases = Category.objects.create(codebook=codebook, code="more_cases", label="More cases")
    more_data = Category.objects.create(codebook=codebook, code="more_data", label="More data")
    HumanCoding = old.get_model("coding", "HumanCoding")
    AnswerCode = old.get_model("coding", "AnswerCode")
    for answer, categories in zip(answers, [[more_cases], [more_data, more_cases], []], strict=True):
        HumanCoding.objects.create(answer_id=answer.pk, coder="A")
        for category in categories:
            AnswerCode.objects.create(answer_id=answer.pk, category=category, source="human", coder="A")

    executor = MigrationExecutor(connection)  # a fresh loader: the graph as on disk
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert set(FinalCoding.objects.values_list("answer_id", "source")) == {(a.pk, "human") for a in answers}
    assert sorted(FinalCode.objects.values_list("answer_id", "category__code")) == sorted(
        [(answers[0].pk, "more_cases"), (answers[1].pk, "more_data"), (answers[1].pk, "more_cases")]
    )
    # Every coding was offered every category of its codebook (0005), so nothing is unknown.
    assert CategorySeen.objects.count() == 6
