import pytest
from django.test import Client


@pytest.mark.django_db
def test_it_signs_in_and_lands_on_projects(owner, password):
    client = Client()
    response = client.post("/accounts/login/", {"username": "owner", "password": password})
    assert response.status_code == 302
    assert client.get("/").status_code == 302
    assert client.get("/projects/").status_code == 200


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_sign_in():
    response = Client().get("/projects/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_login_throttles_the_same_way_whether_or_not_the_user_exists(owner, settings):
    settings.AXES_FAILURE_LIMIT = 3
    answers = {}
    for username in ("owner", "nobody-by-this-name"):
        client = Client(REMOTE_ADDR="10.9.8.7")
        statuses = [
            client.post("/accounts/login/", {"username": username, "password": "wrong"}).status_code
            for _ in range(4)
        ]
        answers[username] = statuses
    assert answers["owner"] == answers["nobody-by-this-name"]
    assert answers["owner"][-1] == 429
