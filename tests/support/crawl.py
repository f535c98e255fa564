"""WARC archives written by the tests with warcio's own writer: image responses with their
requests (Referer), an HTML page naming images, a revisit record and a truncated record."""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


@dataclass
class WarcBuilder:
    """Records in the order they are added; ``write`` puts them in a ``.warc.gz`` file."""

    buffer: io.BytesIO = field(default_factory=io.BytesIO)
    gzipped: bool = True

    def __post_init__(self) -> None:
        self.writer = WARCWriter(self.buffer, gzip=self.gzipped)
        self.ids: dict[str, str] = {}

    def _response(
        self, uri: str, body: bytes, content_type: str, date: str, status: str = "200 OK"
    ) -> str:
        headers = StatusAndHeaders(
            status,
            [("Content-Type", content_type), ("Content-Length", str(len(body)))],
            protocol="HTTP/1.1",
        )
        record = self.writer.create_warc_record(
            uri,
            "response",
            payload=io.BytesIO(body),
            http_headers=headers,
            warc_headers_dict={"WARC-Date": date},
        )
        self.writer.write_record(record)
        record_id = str(record.rec_headers.get_header("WARC-Record-ID"))
        self.ids[uri] = record_id
        return record_id

    def html(self, uri: str, html: str, *, date: str) -> None:
        self._response(uri, html.encode(), "text/html; charset=utf-8", date)

    def image(
        self,
        uri: str,
        data: bytes,
        *,
        date: str,
        referer: str | None = None,
        content_type: str = "image/jpeg",
    ) -> None:
        response_id = self._response(uri, data, content_type, date)
        if referer is not None:
            headers = StatusAndHeaders(
                f"GET {uri} HTTP/1.1", [("Referer", referer), ("Host", "x")], is_http_request=True
            )
            request = self.writer.create_warc_record(
                uri,
                "request",
                http_headers=headers,
                warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": response_id},
            )
            self.writer.write_record(request)

    def revisit(self, uri: str, *, of: str, date: str) -> None:
        """An identical-payload revisit of the response written earlier for ``of``."""
        original = self._find(of)
        headers = StatusAndHeaders("200 OK", [("Content-Type", "image/jpeg")], protocol="HTTP/1.1")
        record = self.writer.create_revisit_record(
            uri, digest=original, refers_to_uri=of, refers_to_date=date, http_headers=headers
        )
        record.rec_headers.replace_header("WARC-Date", date)
        self.writer.write_record(record)

    def _find(self, uri: str) -> str:
        from warcio.archiveiterator import ArchiveIterator

        for record in ArchiveIterator(io.BytesIO(self.buffer.getvalue())):
            if (
                record.rec_headers.get_header("WARC-Target-URI") == uri
                and record.rec_type == "response"
            ):
                return str(record.rec_headers.get_header("WARC-Payload-Digest"))
        raise KeyError(uri)

    def garbage(self, data: bytes = b"this is not a WARC record\r\n\r\n") -> None:
        """Bytes that are no record at all, between two records."""
        self.buffer.write(gzip.compress(data) if self.gzipped else data)

    def truncated_image(self, uri: str, data: bytes, *, date: str) -> None:
        """An image record cut off half way (the archive's last record)."""
        start = self.buffer.tell()
        self._response(uri, data, "image/jpeg", date)
        self.buffer.truncate(start + (self.buffer.tell() - start) // 2)
        self.buffer.seek(0, io.SEEK_END)

    def write(self, path: Path) -> Path:
        path.write_bytes(self.buffer.getvalue())
        return path
