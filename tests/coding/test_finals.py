"""The kept final codes (coding/finals.py) always equal the rule applied to the codes as they are now:
after each kind of write, and when two coders write the same answer at the same time."""

import threading
from collections import defaultdict

from django.db import connection

from coding import finals, selectors, services
from coding.finals import ADJUDICATED
from coding.models import AnswerCode, AutoCoding, CodeSource, FinalCode, HumanCoding
from responses.models import Answer
from surveys.models import Item
from tests.coding.conftest import add_answers, code_by_human
from tests.coding.test_coding_run import ITEM, start


def rule(item: Item) -> dict:
    """The rule, stated again from the code tables in Python: people's codes (adjudicated, else those
    every coder gave) over a trained model's accepted ones outside "human coding only" categories."""
    per_coder: dict = defaultdict(lambda: defaultdict(set))
    for answer_id, coder in HumanCoding.objects.filter(answer__item=item).values_list("answer_id", "coder"):
        per_coder[answer_id].setdefault(coder, set())  # a coder who gave no category still coded
    human = AnswerCode.objects.filter(answer__item=item, source=CodeSource.HUMAN)
    for answer_id, coder, code in human.values_list("answer_id", "coder", "category__code"):
        per_coder[answer_id][coder].add(code)
    out = {}
    for answer_id, coders in per_coder.items():
        if ADJUDICATED in coders:
            out[answer_id] = set(coders[ADJUDICATED])
        else:
            out[answer_id] = set.intersection(*(set(codes) for codes in coders.values()))
    auto = AnswerCode.objects.filter(
        answer__item=item, source=CodeSource.AUTO, accepted=True, category__human_only=False
    )
    for answer_id in AutoCoding.objects.filter(answer__item=item).values_list("answer_id", flat=True):
        out.setdefault(answer_id, set())
    for answer_id, code in auto.values_list("answer_id", "category__code"):
        if answer_id not in per_coder:
            out[answer_id].add(code)
    return out


def kept(edition) -> dict:
    return selectors.final_codes(edition_id=edition.pk, item_code=ITEM)


def test_every_kind_of_write_keeps_the_final_codes_equal_to_the_rule(
    coded_item, django_capture_on_commit_callbacks
):
    edition, pairs = coded_item
    item = Item.objects.get(edition=edition, code=ITEM)
    code_by_human(pairs, 40, coder="A")
    assert kept(edition) == rule(item) and len(kept(edition)) == 40
    # A trained run codes the other 40 and may flag categories "human coding only".
    run = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    services.coding_run_execute(run_id=run.pk)
    assert kept(edition) == rule(item) and len(kept(edition)) == 80
    assert selectors.final_code_sources(edition_id=edition.pk, item_code=ITEM)[pairs[60][0].pk] == "auto"
    # A second coder agrees on one answer and not on another; an adjudication settles a third.
    (a, codes_a), (b, codes_b), (c, _) = pairs[0], pairs[1], pairs[2]
    services.answer_codes_set(answer_id=a.pk, codes=codes_a, coder="B")
    services.answer_codes_set(answer_id=b.pk, codes=["more_data"], coder="B")
    services.answer_codes_set(answer_id=c.pk, codes=["technology"], coder=ADJUDICATED)
    # A person codes an auto-coded answer (people override the model); another clears their codes.
    services.answer_codes_set(answer_id=pairs[70][0].pk, codes=[], coder="A")
    services.answer_codes_clear(answer_id=pairs[3][0].pk, coder="A")
    final = kept(edition)
    assert final == rule(item)
    assert final[a.pk] == set(codes_a) and final[c.pk] == {"technology"}
    assert final[b.pk] == set(codes_b) & {"more_data"} and final[pairs[70][0].pk] == set()
    assert pairs[3][0].pk not in final  # no person and no model coded it now
    # A rerun replaces the model's codes; the people's stay.
    rerun = start(edition, django_capture_on_commit_callbacks, classifier="tfidf-lr")
    services.coding_run_execute(run_id=rerun.pk)
    assert kept(edition) == rule(item)
    assert kept(edition)[c.pk] == {"technology"}


def test_counts_and_filters_read_the_kept_codes(coded_item):
    edition, pairs = coded_item
    code_by_human(pairs, 30)
    counts = selectors.item_category_counts(edition_id=edition.pk, item_code=ITEM)
    expected = defaultdict(int)
    for _answer, codes in pairs[:30]:
        for code in codes:
            expected[code] += 1
    assert counts["n"] == 30 and counts["method"] == "human"
    assert {k: v for k, v in counts["counts"].items() if v} == dict(expected)
    some = [answer.response_id for answer, _ in pairs[:10]]
    filtered = selectors.item_category_counts(
        edition_id=edition.pk,
        item_code=ITEM,
        response_ids=Answer.objects.filter(response_id__in=some).values("response_id"),
    )
    assert filtered["n"] == 10


def test_a_deleted_unused_category_and_a_deleted_answer_leave_no_kept_code(coded_item):
    edition, pairs = coded_item
    codebook = edition.codebooks.get(item_code=ITEM)
    code_by_human(pairs, 5)
    # Added after those codings, so never offered to a coder (one offered is retired: test_codebooks.py);
    # the five codings leave it unknown until it goes.
    extra = services.category_create(codebook=codebook, code="unused_extra", label="Unused")
    assert services.category_remove(category=extra, delete_confirmed=True) == "deleted"
    answer = pairs[0][0]
    assert FinalCode.objects.filter(answer=answer).exists()
    answer.delete()
    assert not FinalCode.objects.filter(answer_id=answer.pk).exists()
    assert kept(edition) == rule(Item.objects.get(edition=edition, code=ITEM))


def test_two_coders_at_once_on_one_answer_leave_the_final_codes_of_both(
    transactional_db, open_2017, monkeypatch
):
    """Coder A's refresh has run and holds the item's lock when coder B writes: B's refresh waits for A's
    commit and then sees A's codes, so the final codes are what both gave (and never a stale half)."""
    services.codebooks_import_reference(edition=open_2017)
    (answer,) = add_answers(open_2017, ITEM, ["More data on every phone, and the technology changes fast"])
    a_refreshed, a_may_commit = threading.Event(), threading.Event()
    real_refresh = finals.final_codes_refresh

    def refresh_then_hold(**kwargs):
        real_refresh(**kwargs)
        if threading.current_thread().name == "coder-A":
            a_refreshed.set()
            assert a_may_commit.wait(10)

    monkeypatch.setattr(services, "final_codes_refresh", refresh_then_hold)
    errors: list[BaseException] = []

    def code(coder: str, codes: list[str]) -> None:
        try:
            services.answer_codes_set(answer_id=answer.pk, codes=codes, coder=coder)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    first = threading.Thread(target=code, args=("A", ["more_data", "technology"]), name="coder-A")
    second = threading.Thread(target=code, args=("B", ["more_data"]), name="coder-B")
    first.start()
    assert a_refreshed.wait(10)
    second.start()
    second.join(0.5)
    assert second.is_alive()  # B waits for the item's lock that A holds
    a_may_commit.set()
    first.join()
    second.join()
    assert not errors
    assert kept(open_2017) == {answer.pk: {"more_data"}}
    assert kept(open_2017) == rule(Item.objects.get(edition=open_2017, code=ITEM))
