"""A crowd worker in a real browser: open the invite link, join without an email, land on the workspace."""

from __future__ import annotations

import pytest

from apps.accounts.models import ProjectMembership


@pytest.mark.browser
def test_anonymous_worker_joins_from_an_invite_link(page, make_invite, project):
    _, token = make_invite(max_uses=10)
    page.goto(f"/join/{token}/?worker_id=PROLIFIC_5f1a2b")
    assert page.locator("h1").inner_text() == "Join “Project A”"
    suggested = page.input_value("#id_username")
    assert suggested.startswith("worker-")
    page.fill("#id_password", "plum-orbit-lantern-77")
    page.click("button[type=submit]")
    page.wait_for_url(f"**/projects/{project.pk}/annotate/")
    membership = ProjectMembership.objects.get(project=project, user__username=suggested)
    assert membership.role == "annotator" and membership.external_worker_id == "PROLIFIC_5f1a2b"
    assert membership.user.email == ""
    assert page.dialogs == []
