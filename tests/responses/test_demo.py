"""The demo data reproduces the figures the NetClean Report 2017 published."""

import pytest

from responses.demo import (
    allocate,
    demo_code_sample,
    demo_payloads_2016,
    demo_payloads_2017,
    demo_release,
    published,
)
from results.selectors import edition_results, share
from surveys import services as survey_services
from tests.conftest import import_reference


def test_allocation_hits_rounded_published_shares():
    labels = allocate(435, {"US": 55.4, "GB": 11.7, "Others": 32.3}, leftover="Others")
    assert (labels.count("US"), labels.count("GB"), len(labels)) == (241, 51, 435)
    assert len(allocate(435, {"a": 55.4, "b": 44.0})) == 435  # rounded shares that miss 100


def test_the_generators_are_reproducible():
    assert demo_payloads_2017() == demo_payloads_2017()
    assert demo_payloads_2016() != demo_payloads_2016(seed=1)


@pytest.fixture
def demo_2017(open_2017):
    demo_release(edition=open_2017, payloads=demo_payloads_2017())
    return open_2017


def test_the_2017_demo_matches_the_published_figures(demo_2017):
    figures = published("2017")["figures"]
    results = edition_results(edition=demo_2017)["items"]
    assert edition_results(edition=demo_2017)["respondents"] == 435
    country = results["country"]
    for code in ("US", "GB", "SE", "CA", "AU", "NO"):
        assert share(country["counts"][code], country["n"]) == pytest.approx(
            figures["country_share_pct"][code], abs=0.1
        )
    yes = results["better_equipped"]
    assert share(yes["counts"]["yes"], yes["n"]) == pytest.approx(figures["better_equipped_yes_pct"], abs=0.1)
    workload = results["workload_change"]
    assert share(workload["counts"]["increased"], workload["n"]) == pytest.approx(75.0, abs=0.1)
    for row, shares in figures["access_grid_pct"].items():
        for choice, pct in shares.items():
            assert share(results[row]["counts"][choice], results[row]["n"]) == pytest.approx(
                pct, abs=0.3
            )  # published shares are rounded
    assert results["children_rescued"]["summary"]["sum"] == figures["children_rescued_total"]
    csam = demo_2017.items.get(code="avg_case_images_csam").answers.all()
    assert sum(1 for a in csam if a.number < 50_000) / len(csam) >= 0.88  # "90 % fewer than 50,000"


def test_the_2016_demo_gives_the_year_over_year_figures(series, demo_2017):
    earlier = survey_services.edition_open(
        edition=import_reference(series, "2016"), closes_at=demo_2017.closes_at
    )
    demo_release(edition=earlier, payloads=demo_payloads_2016())
    results = edition_results(edition=earlier)["items"]
    assert results["children_rescued"]["summary"]["sum"] == 1610
    yes = results["better_equipped"]
    assert share(yes["counts"]["yes"], yes["n"]) == pytest.approx(92.0, abs=0.2)


def test_a_sample_of_the_free_text_is_human_coded_with_the_categories_it_was_written_for(open_2017):
    from coding.selectors import item_category_counts

    payloads = demo_payloads_2017()
    demo_release(edition=open_2017, payloads=payloads)
    coded = demo_code_sample(edition=open_2017, payloads=payloads)
    texts = sum(1 for p in payloads for item in p["codes"])
    # 30 % of all free-text answers are sampled; those written for a coding frame get their codes.
    assert 0.25 * texts <= coded <= 0.35 * texts
    reasons = item_category_counts(edition_id=open_2017.pk, item_code="workload_reasons")
    assert reasons["method"] == "human"
    # The sample's share of the report's most quoted category is near the published 27.8 %.
    assert 100 * reasons["counts"]["more_data"] / reasons["n"] == pytest.approx(27.8, abs=10)
