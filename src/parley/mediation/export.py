"""The signed agreement as a document: a PDF (WeasyPrint) and JSON, both carrying the audit chain's head
hash at export time, so that a copy can later be checked against the log (`parley audit verify`)."""

from __future__ import annotations

import json
from pathlib import Path

from parley.mediation.service import ServiceError

_CSS = Path(__file__).with_name("static") / "parley.css"


def agreement_pdf(templates, data: dict, zone: str) -> bytes:
    """The agreement page rendered to PDF by WeasyPrint (HTML and CSS in, PDF out; no browser)."""
    try:
        from weasyprint import CSS, HTML
    except (ImportError, OSError) as exc:  # OSError: the Pango library WeasyPrint draws with is missing
        raise ServiceError(503, f"PDF export is not available on this server ({str(exc).splitlines()[0]}); "
                                "install WeasyPrint's system libraries (Debian: apt-get install libpango-1.0-0 "
                                "libpangoft2-1.0-0) or download the agreement as JSON") from None
    html = templates.get_template("agreement.html").render(a=data, zone=zone, pdf=True)
    return HTML(string=html, url_fetcher=_no_fetch).write_pdf(stylesheets=[CSS(filename=str(_CSS))])


def _no_fetch(url: str, *args, **kwargs):
    # The document needs nothing from outside; a server-side renderer that fetched URLs would be an SSRF
    # door if a party's text ever reached it as markup (it is escaped, but this does not rely on that).
    raise ValueError(f"the agreement PDF fetches nothing ({url})")


def agreement_json(data: dict) -> bytes:
    return json.dumps(data, indent=2, ensure_ascii=False).encode()


def filename(data: dict, ext: str) -> str:
    safe = "".join(ch if ch.isalnum() else "-" for ch in data["title"].lower()).strip("-")[:40] or "case"
    return f"agreement-{data['case_id']}-{safe}.{ext}"
