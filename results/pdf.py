"""Render an HTML page to PDF with WeasyPrint, fetching only our own static files (no network)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders

STATIC_SCHEME = "static:///"


def _fetcher() -> Any:
    # Imported here: WeasyPrint loads native libraries that ordinary page views never need.
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticFilesOnly(URLFetcher):  # type: ignore[misc]
        """Serves static:///css/app.css from the static files finders; refuses everything else."""

        def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
            if not url.startswith(STATIC_SCHEME):
                raise ValueError(f"refusing to fetch {url!r} while rendering a PDF")
            path = finders.find(url.removeprefix(STATIC_SCHEME).split("?")[0])
            if not path:
                raise ValueError(f"no static file for {url!r}")
            with open(path, "rb") as fh:
                body = fh.read()
            content_type = "text/css" if url.endswith(".css") else "application/octet-stream"
            return URLFetcherResponse(url, body, {"Content-Type": content_type})

    return StaticFilesOnly()


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML

    # Static URLs in the page become static:///… so the fetcher resolves them from disk.
    html = html.replace(f'"{settings.STATIC_URL}', f'"{STATIC_SCHEME}')
    html = html.replace(f'"/{settings.STATIC_URL}', f'"{STATIC_SCHEME}')
    pdf: bytes = HTML(string=html, base_url=STATIC_SCHEME, url_fetcher=_fetcher()).write_pdf()
    return pdf
