"""Errors of crawl input: a WARC archive or a page that cannot be read as one."""

from __future__ import annotations

from service.core.errors import InvalidRequestError


# --- crawl input (WARC archives, pages) -----------------------------------------------------
class WarcInvalidError(InvalidRequestError):
    """The upload is not a WARC archive at all (no record could be read from its start)."""

    code = "warc_invalid"


class PageHasNoImagesError(InvalidRequestError):
    """A page in which no image a person would see was found."""

    code = "page_no_images"


class PageUnreadableError(InvalidRequestError):
    """A page whose markup the HTML parser refuses, so no image on it can be read (a crawled
    record says so under ``skipped``; a page job answers with it)."""

    code = "page_unreadable"
