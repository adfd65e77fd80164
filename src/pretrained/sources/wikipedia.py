"""Wikipedia pages by exact title through the MediaWiki Action API (TextExtracts).

`wiki:Title` (English) or `wiki:lang:Title`. No search, no auto-suggest: the title you give is
the page you get (the API's own normalization — first letter, underscores — and redirects are
followed and reported). A disambiguation page is an error whose hint lists the options.

The API address is configurable (PRETRAINED_WIKI_API, a template with `{lang}`), which is how
the tests serve MediaWiki-shaped JSON from a local server.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

from ..errors import InputNotFoundError, InvalidOptionError, NetworkError, UnreadableInputError

DEFAULT_API = "https://{lang}.wikipedia.org/w/api.php"
_LANG = re.compile(r"^(?:[a-z]{2,3}(?:-[a-z]{2,8})*|simple)$")
_SHOWN_OPTIONS = 8


def api_url(lang: str, api: str | None = None) -> str:
    template = api or os.environ.get("PRETRAINED_WIKI_API") or DEFAULT_API
    return template.replace("{lang}", lang)


def parse_title(spec: str) -> tuple[str, str]:
    """'Title' → ('en', 'Title'); 'de:Titel' → ('de', 'Titel'). Quotes around it are dropped."""
    spec = spec.strip().strip("\"'")
    lang = "en"
    head, sep, rest = spec.partition(":")
    if sep and _LANG.match(head) and rest.strip():
        lang, spec = head, rest.strip().strip("\"'")
    if not spec:
        raise InvalidOptionError(
            "no Wikipedia title given", hint='write wiki:Title, e.g. wiki:"Alan Turing"'
        )
    return lang, spec


def _query(
    url: str, params: dict[str, Any], timeout: float | None, check_url: Callable | None
) -> dict:
    from .web import get_bytes

    body, _, _, _ = get_bytes(
        url,
        timeout=timeout,
        check_url=check_url,
        params={"format": "json", "formatversion": "2", **params},
    )
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise NetworkError(
            f"{url} did not answer with MediaWiki API JSON",
            hint="check PRETRAINED_WIKI_API (it should point at …/w/api.php)",
        ) from exc
    if isinstance(data, dict) and "error" in data:
        error = data["error"]
        raise NetworkError(
            f"the MediaWiki API refused the request: {error.get('code')}: {error.get('info')}",
            hint="check the title and PRETRAINED_WIKI_API",
        )
    return data


def _options(url: str, title: str, timeout: float | None, check_url: Callable | None) -> list[str]:
    data = _query(
        url,
        {"action": "query", "prop": "links", "titles": title, "plnamespace": "0", "pllimit": "max"},
        timeout,
        check_url,
    )
    pages = data.get("query", {}).get("pages", [])
    links = pages[0].get("links", []) if pages else []
    return [link["title"] for link in links if "title" in link]


def fetch_wikipedia(
    spec: str,
    *,
    api: str | None = None,
    timeout: float | None = None,
    check_url: Callable[[str], None] | None = None,
):
    from .document import Document

    lang, title = parse_title(spec)
    url = api_url(lang, api)
    data = _query(
        url,
        {
            "action": "query",
            "prop": "extracts|pageprops|info",
            "explaintext": "1",
            "exsectionformat": "plain",
            "ppprop": "disambiguation",
            "inprop": "url",
            "redirects": "1",
            "titles": title,
        },
        timeout,
        check_url,
    )
    query = data.get("query", {})
    pages = query.get("pages", [])
    if not pages:
        raise UnreadableInputError(
            f"the MediaWiki API returned no page for '{title}'", hint="check the title"
        )
    page = pages[0]
    where = (
        f"{lang}.wikipedia.org" if api is None and "PRETRAINED_WIKI_API" not in os.environ else url
    )
    if page.get("invalid"):
        raise InvalidOptionError(
            f"'{title}' is not a valid Wikipedia title: {page.get('invalidreason', 'invalid')}",
            hint='use the page title as written on Wikipedia, e.g. wiki:"Alan Turing"',
        )
    if page.get("missing"):
        raise InputNotFoundError(
            f"no Wikipedia page titled '{title}' on {where}",
            hint="titles are exact (no search): copy it from the page's address, "
            'e.g. wiki:"Python (programming language)"',
        )
    if "disambiguation" in page.get("pageprops", {}):
        options = _options(url, page["title"], timeout, check_url)
        shown = ", ".join(f'wiki:"{o}"' for o in options[:_SHOWN_OPTIONS])
        more = f" (+{len(options) - _SHOWN_OPTIONS} more)" if len(options) > _SHOWN_OPTIONS else ""
        raise InputNotFoundError(
            f"'{page['title']}' is a disambiguation page on {where}, not an article",
            hint=f"pick one: {shown}{more}" if options else "pick a more specific title",
        )
    text = page.get("extract") or ""
    meta: dict[str, Any] = {"lang": lang, "pageid": page.get("pageid")}
    redirects = query.get("redirects") or []
    if redirects:
        meta["redirected_from"] = redirects[0].get("from")
    return Document(
        text=text,
        title=page.get("title", title),
        source=f"wiki:{spec}",
        kind="wikipedia",
        url=page.get("fullurl")
        or f"https://{lang}.wikipedia.org/wiki/{page.get('title', title).replace(' ', '_')}",
        metadata=meta,
    )
