"""HTML to PDF, the one way twinwatch makes PDFs (takedown notices, pay statements).

WeasyPrint draws with Pango, a system library (``scripts/ensure-pdf.sh``); without either
the caller gets :class:`~service.core.errors.PdfUnavailableError` (503), and offers the same
document in another form.
"""

from __future__ import annotations

from PIL import ImageFile

from service.core.errors import PdfUnavailableError


def render_pdf(html: str, *, instead: str = "download the HTML instead") -> bytes:
    """The document as PDF (blocking, run it in a thread); ``instead`` says what the
    caller offers when PDFs cannot be made here."""
    strict = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        from weasyprint import HTML  # imported on use: it loads Pango through cffi
    except (ImportError, OSError) as exc:
        raise PdfUnavailableError(
            "PDF output needs WeasyPrint and the Pango libraries (scripts/ensure-pdf.sh); "
            f"{instead} ({type(exc).__name__})."
        ) from exc
    finally:
        # Importing WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES; scans must
        # keep refusing truncated images, so the flag is put back (PDFs embed only our own
        # complete images).
        ImageFile.LOAD_TRUNCATED_IMAGES = strict
    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
