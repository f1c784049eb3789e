"""Results: counts in the database, shares of respondents, and the disclosure rule (cells under 10)."""

import pytest

from responses.services import responses_write_released
from results.selectors import OTHER, SUPPRESSED_ALL, ResultFilter, edition_results, editions_compare
from surveys import services as survey_services
from tests.conftest import api_client_for, import_reference, login_with_mfa


def release(edition, answer_sets):
    """Released responses written the way the pool release writes them."""
    responses_write_released(edition_id=edition.pk, payloads=[{"answers": a} for a in answer_sets])


def people(n, **answers):
    return [dict(answers) for _ in range(n)]


@pytest.fixture
def edition(open_2017):
    return open_2017


def test_counts_and_multiple_choice_shares_of_respondents(edition):
    release(
        edition,
        people(30, country="US", workload_change="increased", offender_age=["30_40", "40_50"])
        + people(20, country="GB", workload_change="unchanged", offender_age=["30_40"]),
    )
    results = edition_results(edition=edition)
    assert results["respondents"] == 50
    age = results["items"]["offender_age"]
    assert age["n"] == 50  # respondents, not answers
    assert age["counts"] == {"below_20": 0, "20_30": 0, "30_40": 50, "40_50": 30, "50_60": 0, "above_60": 0}
    workload = results["items"]["workload_change"]
    assert workload["counts"] == {"increased": 30, "unchanged": 20, "decreased": 0}  # zero describes no one
    assert workload["suppressed"] == []


def test_a_single_small_cell_takes_the_next_smallest_with_it(edition):
    release(
        edition,
        people(40, workload_change="increased")
        + people(12, workload_change="unchanged")
        + people(3, workload_change="decreased"),
    )
    workload = edition_results(edition=edition)["items"]["workload_change"]
    assert workload["counts"] == {"increased": 40}
    assert workload["suppressed"] == ["decreased", "unchanged"]


def test_countries_under_ten_are_folded_into_other(edition):
    release(
        edition,
        people(30, country="US")
        + people(12, country="SE")
        + people(4, country="NO")
        + people(7, country="FI"),
    )
    country = edition_results(edition=edition)["items"]["country"]
    assert country["counts"] == {"US": 30, "SE": 12, OTHER: 11}
    assert country["suppressed"] == []


def test_fewer_than_ten_respondents_shows_nothing(edition):
    release(edition, people(9, country="US", workload_change="increased"))
    results = edition_results(edition=edition)
    assert results == {"respondents": None, "suppressed": True, "items": {}}


def test_a_filter_under_ten_shows_nothing_and_a_larger_one_filters(edition):
    release(
        edition,
        people(25, country="US", agency_type="national", workload_change="increased")
        + people(15, country="GB", agency_type="local", workload_change="unchanged")
        + people(5, country="SE", agency_type="international", workload_change="decreased"),
    )
    national = edition_results(edition=edition, filters=[ResultFilter("agency_type", ("national",))])
    assert national["respondents"] == 25
    assert national["items"]["workload_change"]["counts"] == {"increased": 25, "unchanged": 0, "decreased": 0}
    tiny = edition_results(edition=edition, filters=[ResultFilter("agency_type", ("international",))])
    assert tiny["respondents"] is None and tiny["items"] == {}


def test_numbers_have_quartiles_sums_bins_and_rounded_extremes(edition):
    release(edition, [{"children_rescued": value} for value in range(1, 41)])
    rescued = edition_results(edition=edition, bins={"children_rescued": [0, 10, 20, 41]})["items"][
        "children_rescued"
    ]
    summary = rescued["summary"]
    assert (summary["count"], summary["sum"], summary["median"]) == (40, 820, 20.5)
    assert (summary["q1"], summary["q3"]) == (10.75, 30.25)
    assert (summary["min"], summary["max"]) == (1, 40)
    # 1..9 is under ten; alone it would be 40 minus the rest, so the next smallest bin is hidden with it.
    assert [b["count"] for b in summary["bins"]] == [None, None, 21]
    assert rescued["suppressed"] == ["bin0", "bin1"]


def test_a_single_small_bin_cannot_be_recovered_from_the_count(edition):
    # The demo's 2017 children_rescued showed bins 315, 75, 29, 11 and one hidden of n = 435: 5 people.
    release(edition, [{"children_rescued": v} for v in [1] * 30 + [15] * 12 + [25] * 11 + [35] * 3])
    rescued = edition_results(edition=edition, bins={"children_rescued": [0, 10, 20, 30, 40]})["items"][
        "children_rescued"
    ]
    counts = [b["count"] for b in rescued["summary"]["bins"]]
    assert counts == [30, 12, None, None]
    assert rescued["suppressed"] == ["bin2", "bin3"]


def test_default_bins_do_not_show_a_single_respondents_exact_value(edition):
    release(edition, [{"children_rescued": value} for value in range(1013, 1053)])
    rescued = edition_results(edition=edition)["items"]["children_rescued"]["summary"]
    edges = [rescued["bins"][0]["from"]] + [b["to"] for b in rescued["bins"]]
    assert (edges[0], edges[-1]) == (1000, 1100)  # 1013 and 1052 rounded outwards, as min and max are
    assert (rescued["min"], rescued["max"]) == (1000, 1100)
    assert rescued["count"] == 40


def test_a_grid_row_is_an_item_with_its_own_counts(edition):
    release(edition, people(20, access_family="common") + people(15, access_family="very_common"))
    family = edition_results(edition=edition)["items"]["access_family"]
    assert family["counts"] == {"very_common": 15, "common": 20, "uncommon": 0}


def test_uncoded_free_text_reports_only_how_many_answered(edition):
    release(edition, people(12, workload_change="increased", workload_reasons="More data"))
    reasons = edition_results(edition=edition)["items"]["workload_reasons"]
    assert reasons["n"] == 12 and reasons["counts"] == {}


def test_an_edition_is_compared_with_another_of_its_series_never_with_itself(
    series, edition, client, analyst_ann
):
    earlier = survey_services.edition_open(
        edition=import_reference(series, "2016"), closes_at=edition.closes_at
    )
    release(earlier, people(12, better_equipped="yes"))
    release(edition, people(12, better_equipped="yes"))
    client = login_with_mfa(client, analyst_ann)
    assert client.get(f"/staff/results/{edition.pk}/compare/{earlier.pk}/").status_code == 200
    assert client.get(f"/staff/results/{edition.pk}/compare/{edition.pk}/").status_code == 404


def test_year_over_year_puts_shared_items_side_by_side(series, edition):
    earlier = survey_services.edition_open(
        edition=import_reference(series, "2016"),
        closes_at=edition.closes_at,
    )
    release(
        earlier,
        people(115, better_equipped="yes")
        + people(10, better_equipped="no")
        + [{"children_rescued": 10}] * 10,
    )
    release(
        edition,
        people(40, better_equipped="yes")
        + people(14, better_equipped="no")
        + [{"children_rescued": 20}] * 10,
    )
    rows = editions_compare(edition=edition, previous=earlier)
    yes = next(r for r in rows if r["item"] == "better_equipped" and r["measure"] == "yes")
    assert (yes["before"], yes["after"], yes["change"]) == (92.0, 74.1, -17.9)
    rescued = next(r for r in rows if r["item"] == "children_rescued")
    assert (rescued["before"], rescued["after"]) == (100, 200)
    assert {r["item"] for r in rows} <= {
        "country",
        "workload_change",
        "workload_reasons",
        "better_equipped",
        "trends",
        "children_rescued",
    }


def test_the_api_returns_the_documented_shape_to_staff_only(edition, analyst_ann, officer_alice):
    release(edition, people(12, country="US", workload_change="increased"))
    body = api_client_for(analyst_ann).get(f"/api/v1/editions/{edition.pk}/results/").json()
    assert body["respondents"] == 12
    assert body["items"]["workload_change"] == {
        "type": "select_one",
        "n": 12,
        "counts": {"increased": 12, "unchanged": 0, "decreased": 0},
        "suppressed": [],
        "summary": {},
    }
    assert body["items"]["country"]["counts"] == {"US": 12}
    assert api_client_for(officer_alice).get(f"/api/v1/editions/{edition.pk}/results/").status_code == 403


def test_the_api_applies_filters_and_bins_from_the_query(edition, analyst_ann):
    release(
        edition,
        people(12, agency_type="national", children_rescued=5)
        + people(11, agency_type="local", children_rescued=50),
    )
    client = api_client_for(analyst_ann)
    body = client.get(
        f"/api/v1/editions/{edition.pk}/results/?f_agency_type=local&bins_children_rescued=0,10,100"
    ).json()
    assert body["respondents"] == 11
    assert [b["count"] for b in body["items"]["children_rescued"]["summary"]["bins"]] == [0, 11]
    assert SUPPRESSED_ALL not in body["items"]["children_rescued"]["suppressed"]


@pytest.fixture
def staff_client(client, analyst_ann):
    from tests.surveys.test_staff_pages import logged_in

    return logged_in(client, analyst_ann)


def test_the_results_page_draws_each_figure_with_its_data_table(edition, staff_client):
    release(
        edition,
        people(30, country="US", workload_change="increased", access_family="common")
        + people(12, country="SE", workload_change="unchanged", access_family="uncommon"),
    )
    about = staff_client.get(f"/staff/results/{edition.pk}/?page=1").content.decode()
    assert "42 respondents" in about
    assert '<th scope="row">United States' in about and "71.4 %" in about
    grid = staff_client.get(f"/staff/results/{edition.pk}/?page=4").content.decode()
    assert 'id="fig-access"' in grid and "Data of the chart" in grid
    filtered = staff_client.get(f"/staff/results/{edition.pk}/?page=2&f_country=SE").content.decode()
    assert "12 respondents matching the filter" in filtered
    csv_body = staff_client.get(f"/staff/results/{edition.pk}/items/workload_change.csv").content.decode()
    assert "workload_change,increased,30,71.4,42" in csv_body
    report = staff_client.get(f"/staff/results/{edition.pk}/report/").content.decode()
    assert "Download as PDF" in report and 'id="fig-trends"' in report
    pdf = staff_client.get(f"/staff/results/{edition.pk}/report/?format=pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")


def test_results_pages_are_for_staff(edition, client, officer_alice):
    client.force_login(officer_alice)
    assert client.get(f"/staff/results/{edition.pk}/").status_code == 403


@pytest.mark.parametrize("edges", ["0,1e999999999", "-1e31,0,100", "NaN,1"])
def test_bins_beyond_what_an_answer_can_hold_are_a_400_not_a_server_error(edition, analyst_ann, edges):
    """PostgreSQL refuses a numeric like 1e999999999 outright (it was a 500); then such bins were dropped in
    silence, and the default bins came back as if they were the ones asked for."""
    release(edition, people(12, children_rescued=5))
    client = api_client_for(analyst_ann)
    response = client.get(f"/api/v1/editions/{edition.pk}/results/?bins_children_rescued={edges}")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "bins_children_rescued: every edge must be a number of at most 30 digits before the "
        "decimal point, separated by commas"
    }


def test_tiny_bin_edges_are_rounded_to_what_an_answer_holds(edition, analyst_ann):
    release(edition, people(12, children_rescued=5))
    client = api_client_for(analyst_ann)
    response = client.get(f"/api/v1/editions/{edition.pk}/results/?bins_children_rescued=0,1E-999999999,100")
    assert response.status_code == 200
    assert response.json()["items"]["children_rescued"]["summary"]["count"] == 12


AGENCY_TYPES = "national, regional, local, international, other"


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("f_agency=local", "f_agency: no choice item 'agency' in this edition"),
        (
            "f_agency_type=locale",
            "f_agency_type: 'locale' is not one of " + AGENCY_TYPES,
        ),
        ("f_children_rescued=5", "f_children_rescued: no choice item 'children_rescued' in this edition"),
        (
            "filter_agency_type=local",
            "unknown query parameter filter_agency_type; known: f_ITEM=CHOICE, bins_ITEM=EDGES",
        ),
        ("f_agency_type=local&f_agency_type=national", "given more than once: f_agency_type"),
        ("bins_agency_type=0,10", "bins_agency_type: no number item 'agency_type' in this edition"),
        ("bins_children_rescued=5", "bins_children_rescued: give two different edges or more"),
        ("bins_children_rescued=5,5.00", "bins_children_rescued: give two different edges or more"),
        ("bins_children_rescued=" + ",".join(map(str, range(51))), "bins_children_rescued: at most 50 edges"),
        (
            "f_agency_type=locale&bins_children_rescued=a,b",
            "bins_children_rescued: every edge must be a number of at most 30 digits before the "
            "decimal point, separated by commas; f_agency_type: 'locale' is not one of " + AGENCY_TYPES,
        ),
    ],
)
def test_a_results_query_the_api_does_not_understand_is_a_400_not_everyone(edition, analyst_ann, query, said):
    """A misspelt filter or an unknown choice was dropped in silence: the totals of every respondent came
    back as if filtered."""
    release(edition, people(12, agency_type="national") + people(11, agency_type="local"))
    response = api_client_for(analyst_ann).get(f"/api/v1/editions/{edition.pk}/results/?{query}")
    assert response.status_code == 400 and response.json() == {"detail": said}


def test_empty_results_parameters_count_as_left_out(edition, analyst_ann):
    release(edition, people(12, agency_type="national") + people(11, agency_type="local"))
    client = api_client_for(analyst_ann)
    url = f"/api/v1/editions/{edition.pk}/results/"
    body = client.get(f"{url}?f_agency_type=&bins_children_rescued=&format=json").json()
    assert body == client.get(url).json() and body["respondents"] == 23


def test_the_results_api_bins_at_the_edges_it_accepted(edition, analyst_ann):
    """The API's check and the reader it guards count edges alike: 50 edges after an empty part were
    accepted, then read as the first 50 parts, so the last edge (and its bin) went in silence."""
    release(edition, people(12, children_rescued=5))
    edges = ",".join(str(edge) for edge in range(50))
    response = api_client_for(analyst_ann).get(
        f"/api/v1/editions/{edition.pk}/results/?bins_children_rescued=,{edges}"
    )
    assert response.status_code == 200
    assert len(response.json()["items"]["children_rescued"]["summary"]["bins"]) == 49


def test_a_cell_hidden_with_a_small_one_is_not_labelled_under_ten(edition, staff_client):
    import re

    release(
        edition,
        people(40, workload_change="increased")
        + people(12, workload_change="unchanged")
        + people(3, workload_change="decreased"),
    )
    page = staff_client.get(f"/staff/results/{edition.pk}/?page=2").content.decode()
    figure = page[page.index('id="fig-workload_change"') :]
    rows = dict(re.findall(r'<th scope="row">([^<]+)</th>\s*<td class="num">(.*?)</td>', figure[:3000], re.S))
    # 12 people said "unchanged": hidden (else 3 = 55 - 40 - 12), but it is not "fewer than 10".
    unchanged = next(v for k, v in rows.items() if k.strip().lower().startswith("unchanged"))
    assert "&lt; 10" not in unchanged and "not shown" in unchanged


def test_the_results_api_schema_describes_the_item_named_parameters_as_the_api_reads_them():
    """f_ITEM and bins_ITEM stood in the schema as parameters of those names, which the API refuses
    ("no choice item 'ITEM'"): they are one free-form object, sent as its own key=value pairs."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    parameters = schema["paths"]["/api/v1/editions/{edition_id}/results/"]["get"]["parameters"]
    query = [p for p in parameters if p["in"] == "query"]
    assert len(query) == 1
    assert query[0]["schema"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert query[0]["style"] == "form" and query[0]["explode"] is True
