from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.projects.selectors import project_list_for_user


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = project_list_for_user(user=request.user, include_archived=request.GET.get("archived") == "1")
    return render(request, "projects/list.html", {"projects": projects})
