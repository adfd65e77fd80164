"""load_text: files, URLs (local HTTP server), Wikipedia (MediaWiki-shaped JSON), stdin."""

import io
import sys

import pytest

from pretrained.errors import (
    EmptyInputError,
    InputNotFoundError,
    InvalidOptionError,
    NetworkError,
    UnreadableInputError,
)
from pretrained.sources import load_text
from pretrained.sources.wikipedia import parse_title
from tests.textkit import ARTICLE_HTML, TextServer, WikiPage, make_docx, make_pdf


@pytest.fixture
def site(monkeypatch):
    with TextServer() as server:
        monkeypatch.setenv("PRETRAINED_WIKI_API", server.url + "/{lang}/w/api.php")
        yield server


# ---------------------------------------------------------------- files
def test_text_and_markdown_files(tmp_path):
    (tmp_path / "a.txt").write_text("Plain text here.\n")
    (tmp_path / "b.md").write_text("# The Title\n\nSome *markdown* text.\n")
    a, b = load_text(str(tmp_path / "a.txt")), load_text(str(tmp_path / "b.md"))
    assert a.kind == "text" and a.text.startswith("Plain text") and a.title == "a"
    assert b.kind == "markdown" and b.title == "The Title" and b.path.endswith("b.md")


def test_html_file_keeps_the_article_drops_the_boilerplate(tmp_path):
    (tmp_path / "page.html").write_text(ARTICLE_HTML)
    doc = load_text(str(tmp_path / "page.html"))
    assert doc.kind == "html"
    assert "largest land-living arthropod" in doc.text
    assert "Log in" not in doc.text and "Cookie settings" not in doc.text
    assert doc.title and "Coconut crabs" in doc.title


def test_pdf_file(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(
        make_pdf(["Quarterly report.", "Revenue grew by twelve percent."], "Q3 Report")
    )
    doc = load_text(str(path))
    assert doc.kind == "pdf" and doc.title == "Q3 Report" and doc.metadata["pages"] == 1
    assert "Revenue grew by twelve percent" in doc.text


def test_pdf_without_text_and_broken_pdf(tmp_path):
    empty = tmp_path / "scan.pdf"
    empty.write_bytes(make_pdf([]))
    with pytest.raises(EmptyInputError, match="no extractable text") as info:
        load_text(str(empty))
    assert "OCR" in info.value.hint
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    with pytest.raises((UnreadableInputError, EmptyInputError)):
        load_text(str(broken))


def test_docx_file(tmp_path):
    path = make_docx(tmp_path / "memo.docx", ["First paragraph.", "Second paragraph."], "Memo")
    doc = load_text(str(path))
    assert doc.kind == "docx" and doc.title == "Memo"
    assert doc.text == "First paragraph.\n\nSecond paragraph."


def test_encodings_are_detected(tmp_path):
    russian = "Съешь же ещё этих мягких французских булок, да выпей чаю. " * 5
    (tmp_path / "cp1251.txt").write_bytes(russian.encode("cp1251"))
    (tmp_path / "utf16.txt").write_bytes(russian.encode("utf-16"))
    (tmp_path / "latin.txt").write_bytes(
        "Café crème brûlée à la carte, s'il vous plaît.".encode("cp1252")
    )
    assert load_text(str(tmp_path / "cp1251.txt")).text == russian
    assert load_text(str(tmp_path / "utf16.txt")).text == russian
    assert load_text(str(tmp_path / "latin.txt")).text.startswith("Café crème brûlée")


@pytest.mark.parametrize(
    "data, error",
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, UnreadableInputError),
        (bytes(range(256)) * 8, UnreadableInputError),
        (b"   \n\n  ", EmptyInputError),
    ],
)
def test_binary_and_empty_files(tmp_path, data, error):
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    with pytest.raises(error):
        load_text(str(path))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputNotFoundError, match="file not found"):
        load_text(str(tmp_path / "nope.txt"))
    with pytest.raises(UnreadableInputError, match="folder"):
        load_text(str(tmp_path))
    with pytest.raises(EmptyInputError):
        load_text("  ")


def test_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"From a pipe.\n")))
    doc = load_text("-")
    assert doc.text == "From a pipe.\n" and doc.source == "-"


# ---------------------------------------------------------------- URLs
def test_url_html_pdf_text_and_redirect(site):
    site.site.add("/article", ARTICLE_HTML, "text/html; charset=utf-8")
    site.site.add("/paper.pdf", make_pdf(["A PDF served over HTTP."]), "application/pdf")
    site.site.add("/notes.txt", "Plain notes over HTTP.", "text/plain; charset=utf-8")
    page = load_text(site.url + "/article")
    assert page.kind == "html" and "coconut crab" in page.text and "subscribe" not in page.text
    assert load_text(site.url + "/paper.pdf").kind == "pdf"
    notes = load_text(site.url + "/notes.txt")
    assert notes.text == "Plain notes over HTTP." and notes.metadata["content_type"] == "text/plain"
    moved = load_text(site.url + "/redirect/notes.txt")
    assert moved.url == site.url + "/notes.txt" and moved.metadata["redirected_to"]


def test_url_errors(site, monkeypatch):
    site.site.add("/image.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")
    site.site.add("/private", "no", "text/html", status=403)
    site.site.add("/broken", "oops", "text/html", status=500)
    site.site.add("/big.txt", "x" * 5000, "text/plain")
    with pytest.raises(InputNotFoundError, match="404"):
        load_text(site.url + "/missing")
    with pytest.raises(UnreadableInputError, match="image/png"):
        load_text(site.url + "/image.png")
    with pytest.raises(UnreadableInputError, match="403"):
        load_text(site.url + "/private")
    with pytest.raises(NetworkError, match="500"):
        load_text(site.url + "/broken")
    with pytest.raises(UnreadableInputError, match="limit"):
        load_text(site.url + "/big.txt", max_bytes=1000)
    with pytest.raises(NetworkError, match="could not fetch|cannot"):
        load_text("http://127.0.0.1:9/nothing-listens-here", timeout=2)


def test_check_url_sees_redirect_targets(site):
    site.site.add("/notes.txt", "notes", "text/plain")
    seen = []
    load_text(site.url + "/redirect/notes.txt", check_url=seen.append)
    assert seen == [site.url + "/redirect/notes.txt", site.url + "/notes.txt"]


# ---------------------------------------------------------------- Wikipedia
def test_parse_title():
    assert parse_title("Alan Turing") == ("en", "Alan Turing")
    assert parse_title('"Daisy (advertisement)"') == ("en", "Daisy (advertisement)")
    assert parse_title("de:Alan Turing") == ("de", "Alan Turing")
    assert parse_title("Star Wars: Andor") == ("en", "Star Wars: Andor")
    with pytest.raises(InvalidOptionError):
        parse_title("  ")


def test_wiki_page_exact_title_and_language(site):
    site.site.wiki["Daisy (advertisement)"] = WikiPage("Daisy is a 1964 television ad.")
    doc = load_text('wiki:"Daisy (advertisement)"')
    assert doc.kind == "wikipedia" and doc.title == "Daisy (advertisement)"
    assert doc.text == "Daisy is a 1964 television ad."
    request = site.site.wiki_requests[-1]
    assert request["titles"] == "Daisy (advertisement)" and request["lang"] == "en"
    assert "search" not in request.get("list", "")  # exact title: no search, no suggestions
    site.site.wiki["Kokosnuss"] = WikiPage("Die Kokosnuss ist die Frucht der Kokospalme.")
    de = load_text("wiki:de:Kokosnuss")
    assert de.metadata["lang"] == "de" and site.site.wiki_requests[-1]["lang"] == "de"


def test_wiki_redirect_is_followed_and_reported(site):
    site.site.wiki["Python (programming language)"] = WikiPage("Python is a language.")
    site.site.wiki_redirects["Python language"] = "Python (programming language)"
    doc = load_text("wiki:Python language")
    assert doc.title == "Python (programming language)"
    assert doc.metadata["redirected_from"] == "Python language"


def test_wiki_missing_page(site):
    with pytest.raises(InputNotFoundError, match="no Wikipedia page titled 'Nonexistent Thing'"):
        load_text("wiki:Nonexistent Thing")


def test_wiki_disambiguation_lists_the_options(site):
    site.site.wiki["Mercury"] = WikiPage(
        "Mercury may refer to:",
        disambiguation=True,
        links=[f"Mercury ({x})" for x in ("planet", "element", "mythology")]
        + [f"Option {i}" for i in range(10)],
    )
    with pytest.raises(InputNotFoundError, match="disambiguation") as info:
        load_text("wiki:Mercury")
    hint = info.value.hint
    assert 'wiki:"Mercury (planet)"' in hint and 'wiki:"Mercury (element)"' in hint
    assert "(+5 more)" in hint and "\n" not in hint


def test_wiki_invalid_title(site):
    with pytest.raises(InvalidOptionError, match="not a valid Wikipedia title"):
        load_text("wiki:[bad]")
