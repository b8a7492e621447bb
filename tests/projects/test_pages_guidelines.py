"""Guidelines: markdown rendered sanitised, versioned on change, history and any version viewable."""

from __future__ import annotations

from django.test import Client

from apps.projects.models import GuidelineVersion
from apps.projects.services import guidelines_update
from tests.conftest import client_for

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(project, suffix: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/projects/{project.pk}/guidelines/{suffix}"


def test_editing_creates_a_version_and_unchanged_text_does_not(owner, project):  # type: ignore[no-untyped-def]
    client = client_for(owner)
    response = client.post(url(project), {"text": "## Rules\n\nBe kind."})
    assert response.status_code == 302
    response = client.post(url(project), {"text": "## Rules\n\nBe kind."}, **HTMX)
    assert response.status_code == 200 and "No changes" in response.content.decode()
    versions = list(GuidelineVersion.objects.filter(project=project).order_by("version"))
    assert [v.version for v in versions] == [1, 2] and versions[1].created_by == owner
    response = client.post(url(project), {"text": "## Rules\r\n\r\nBe kinder."}, **HTMX)
    assert "Saved as version 3" in response.content.decode() and "<html" not in response.content.decode()
    assert GuidelineVersion.objects.get(project=project, version=3).text == "## Rules\n\nBe kinder."


def test_guidelines_render_sanitised_for_annotators(annotator, project):  # type: ignore[no-untyped-def]
    guidelines_update(project=project, user=None, text="**Bold** <script>alert(1)</script> [x](javascript:alert(1))")
    response = client_for(annotator).get(url(project))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>Bold</strong>" in html
    assert "<script>alert(1)" not in html and "href=\"javascript" not in html
    assert "<textarea" not in html  # annotators read, they do not edit


def test_annotator_cannot_edit(annotator, project):  # type: ignore[no-untyped-def]
    assert client_for(annotator).post(url(project), {"text": "Mine now"}).status_code == 403
    assert client_for(annotator).post(url(project, "preview/"), {"text": "x"}).status_code == 403
    assert GuidelineVersion.objects.filter(project=project).count() == 1


def test_outsider_gets_404_on_every_guidelines_page(outsider, project):  # type: ignore[no-untyped-def]
    client = client_for(outsider)
    for path in ("", "history/", "v1/"):
        assert client.get(url(project, path)).status_code == 404
    assert client.post(url(project), {"text": "x"}).status_code == 404
    assert client.post(url(project, "preview/"), {"text": "x"}).status_code == 404


def test_anonymous_and_wrong_methods(owner, project):  # type: ignore[no-untyped-def]
    for path in ("", "history/", "v1/"):
        assert Client().get(url(project, path)).status_code == 302
    client = client_for(owner)
    assert client.put(url(project)).status_code == 405
    assert client.get(url(project, "preview/")).status_code == 405
    assert client.post(url(project, "history/")).status_code == 405


def test_too_long_guidelines_get_a_named_error(owner, project):  # type: ignore[no-untyped-def]
    response = client_for(owner).post(url(project), {"text": "x" * 100_001}, **HTMX)
    assert response.status_code == 422 and "at most 100000 characters" in response.content.decode()


def test_preview_renders_markdown_fragment(owner, project):  # type: ignore[no-untyped-def]
    response = client_for(owner).post(url(project, "preview/"), {"text": "# Title\n<img src=x onerror=alert(1)>"}, **HTMX)
    html = response.content.decode()
    assert "<h1>Title</h1>" in html and "<img" not in html and "<html" not in html


def test_history_and_versions(owner, annotator, project):  # type: ignore[no-untyped-def]
    guidelines_update(project=project, user=owner, text="Be careful and kind.\nSecond line.")
    history = client_for(annotator).get(url(project, "history/")).content.decode()
    assert f'href="/projects/{project.pk}/guidelines/v2/"' in history and "owner" in history and "current" in history
    page = client_for(annotator).get(url(project, "v2/")).content.decode()
    assert "Second line." in page and "+Second line." in page  # the diff against version 1
    old = client_for(annotator).get(url(project, "v1/")).content.decode()
    assert "Be careful and kind." in old and "Second line." not in old
    assert client_for(annotator).get(url(project, "v9/")).status_code == 404
