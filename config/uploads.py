"""A size limit on every uploaded file, enforced while the request body is read (settings: Uploads).

Django otherwise spools an upload of any size to memory or a temporary file before a view can look at
it. This handler runs first: once a file passes IMPORT_MAX_BYTES (or the declared size of the whole
request is already larger), the rest of that file is skipped unread into storage, and the refusal is
left on the request for the view to show (`upload_refusal`). The other form fields still arrive, the
CSRF token included."""

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest

# Room for the other fields and the multipart boundaries around the file in the declared length.
MULTIPART_ALLOWANCE = 64 * 1024


def upload_refusal(request: HttpRequest) -> str | None:
    """The reason an upload in this request was refused, if one was."""
    return getattr(request, "upload_refused", None)


class SizeLimitedUploadHandler(FileUploadHandler):
    def handle_raw_input(
        self, input_data: Any, meta: Any, content_length: int, boundary: Any, encoding: str | None = None
    ) -> None:
        self.limit: int = settings.IMPORT_MAX_BYTES
        self.too_long = content_length > self.limit + MULTIPART_ALLOWANCE
        self.received = 0

    def _refuse(self) -> None:
        self.request.upload_refused = (  # type: ignore[union-attr]
            f"The file is larger than {self.limit:,} bytes; it was refused before it was read."
        )
        raise SkipFile

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0
        if self.too_long:
            self._refuse()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self._refuse()
        return raw_data  # passed on to the memory or temporary-file handler

    def file_complete(self, file_size: int) -> None:
        return None
