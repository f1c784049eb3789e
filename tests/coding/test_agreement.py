"""Agreement between human coders (coder_agreement), against Krippendorff's alpha computed by hand."""

import pytest

from coding import selectors, services

ITEM = "workload_reasons"


def nominal_alpha_by_hand(units: list[list[int]]) -> float:
    """Binary nominal alpha from its definition: 1 - (n - 1) * sum_u n0u n1u / (m_u - 1) / (n0 n1), over
    the units with two or more values (Krippendorff 2011, 'Computing Krippendorff's alpha-reliability')."""
    pairable = [u for u in units if len(u) >= 2]
    n = sum(len(u) for u in pairable)
    n1 = sum(sum(u) for u in pairable)
    n0 = n - n1
    disagreement = sum(sum(u) * (len(u) - sum(u)) / (len(u) - 1) for u in pairable)
    return 1 - (n - 1) * disagreement / (n0 * n1)


def test_every_coder_of_an_answer_counts_in_the_agreement(coded_item):
    """Three people coded some answers: alpha takes all their values. Only two (the first pseudonyms in
    sort order) were used, 0.533 here where the three coders' alpha is -0.071."""
    edition, pairs = coded_item
    (u1, _), (u2, _), (u3, _), (u4, _) = pairs[:4]
    given = {  # answer -> coder -> codes
        u1: {"A": ["more_data"], "B": ["more_data"], "C": []},
        u2: {"A": [], "B": [], "C": ["more_data"]},
        u3: {"A": ["more_data"], "B": ["more_data"], "C": ["more_data"]},
        u4: {"A": [], "B": ["more_data"]},
    }
    for answer, by_coder in given.items():
        for coder, codes in by_coder.items():
            services.answer_codes_set(answer_id=answer.pk, codes=codes, coder=coder)
    more_data = [[int("more_data" in codes) for codes in by_coder.values()] for by_coder in given.values()]
    assert nominal_alpha_by_hand(more_data) == pytest.approx(-1 / 14)

    agreement = selectors.coder_agreement(edition_id=edition.pk, item_code=ITEM)
    assert agreement["units"] == 4
    assert agreement["categories"]["more_data"] == round(-1 / 14, 3)
    # Overall: every (answer, category) pair is a unit; only more_data was ever given.
    categories = [c["code"] for c in selectors.codebook_for(edition_id=edition.pk, item_code=ITEM)]
    units = [
        [int(code in codes) for codes in by_coder.values()]
        for by_coder in given.values()
        for code in categories
    ]
    assert agreement["overall"] == pytest.approx(nominal_alpha_by_hand(units))
    assert agreement["categories"]["technology"] is None  # nobody used it: alpha is undefined


def test_two_coders_agreement_matches_the_hand_computation(coded_item):
    edition, pairs = coded_item
    sets = [
        (["more_data", "technology"], ["more_data"]),
        (["technology"], ["technology"]),
        ([], ["more_data"]),
        (["more_data"], ["more_data"]),
        ([], []),
    ]
    for (answer, _), (first, second) in zip(pairs, sets, strict=False):
        services.answer_codes_set(answer_id=answer.pk, codes=first, coder="A")
        services.answer_codes_set(answer_id=answer.pk, codes=second, coder="B")
    agreement = selectors.coder_agreement(edition_id=edition.pk, item_code=ITEM)
    for code in ("more_data", "technology"):
        units = [[int(code in first), int(code in second)] for first, second in sets]
        assert agreement["categories"][code] == round(nominal_alpha_by_hand(units), 3)


def test_an_undefined_overall_alpha_reads_n_a_on_the_screen(client, analyst_ann, coded_item):
    """Two coders who both said 'none applies' everywhere: alpha is undefined (one value only); the
    screen showed an empty figure."""
    from tests.conftest import login_with_mfa

    edition, pairs = coded_item
    for answer, _ in pairs[:3]:
        for coder in ("A", "B"):
            services.answer_codes_set(answer_id=answer.pk, codes=[], coder=coder)
    assert selectors.coder_agreement(edition_id=edition.pk, item_code=ITEM)["overall"] is None
    body = login_with_mfa(client, analyst_ann).get(f"/staff/coding/editions/{edition.pk}/items/{ITEM}/")
    assert "coded by two or more coders: <strong>n/a (every value the same)</strong>" in body.content.decode()
