from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api import views
from exports import api as exports_api

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its init script from a URL: the Content-Security-Policy allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("editions/", views.EditionListView.as_view(), name="api-editions"),
    path("editions/<int:edition_id>/", views.EditionDetailView.as_view(), name="api-edition"),
    path("editions/<int:edition_id>/open/", views.EditionOpenView.as_view(), name="api-edition-open"),
    path("editions/<int:edition_id>/close/", views.EditionCloseView.as_view(), name="api-edition-close"),
    path(
        "editions/<int:edition_id>/responses/",
        views.ResponseSubmitView.as_view(),
        name="api-edition-responses",
    ),
    path("editions/<int:edition_id>/stats/", views.EditionStatsView.as_view(), name="api-edition-stats"),
    path(
        "editions/<int:edition_id>/results/", views.EditionResultsView.as_view(), name="api-edition-results"
    ),
]

# Free-text coding (coding/api.py).
from coding import api as coding_api  # noqa: E402

urlpatterns += [
    path(
        "editions/<int:edition_id>/items/<slug:item_code>/answers/",
        coding_api.ItemAnswersView.as_view(),
        name="api-item-answers",
    ),
    path("answers/<uuid:answer_id>/codes/", coding_api.AnswerCodesView.as_view(), name="api-answer-codes"),
    path(
        "editions/<int:edition_id>/items/<slug:item_code>/coding-runs/",
        coding_api.CodingRunStartView.as_view(),
        name="api-coding-runs",
    ),
    path("coding-runs/<uuid:run_id>/", coding_api.CodingRunDetailView.as_view(), name="api-coding-run"),
    # Exports (exports/api.py).
    path(
        "editions/<int:edition_id>/exports/",
        exports_api.ExportCreateView.as_view(),
        name="api-edition-exports",
    ),
    path("exports/<uuid:export_id>/", exports_api.ExportDetailView.as_view(), name="api-export"),
    path(
        "exports/<uuid:export_id>/download/",
        exports_api.ExportDownloadView.as_view(),
        name="api-export-download",
    ),
    path(
        "exports/<uuid:export_id>/review/", exports_api.ExportReviewView.as_view(), name="api-export-review"
    ),
    path(
        "exports/<uuid:export_id>/review/answers/<uuid:answer_id>/",
        exports_api.ExportReviewAnswerView.as_view(),
        name="api-export-review-answer",
    ),
    path(
        "exports/<uuid:export_id>/review/approve/",
        exports_api.ExportReviewApproveView.as_view(),
        name="api-export-review-approve",
    ),
]

# Blind-signed ballots, anonymity level 2 (responses/api.py).
from responses import api as responses_api  # noqa: E402

urlpatterns += [
    path(
        "editions/<int:edition_id>/ballot-key/",
        responses_api.BallotKeyView.as_view(),
        name="api-edition-ballot-key",
    ),
    path(
        "editions/<int:edition_id>/ballots/",
        responses_api.BallotIssueView.as_view(),
        name="api-edition-ballots",
    ),
    path(
        "editions/<int:edition_id>/anonymous-responses/",
        responses_api.AnonymousResponseView.as_view(),
        name="api-edition-anonymous-responses",
    ),
]
