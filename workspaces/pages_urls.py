"""Web pages. The board UI lives here (see templates/)."""
from django.http import HttpResponse
from django.urls import path


def placeholder(request, token=None):
    return HttpResponse("The web UI is not built yet.")


urlpatterns = [
    path("join/<str:token>/", placeholder, name="join-page"),
    path("", placeholder, name="home"),
]
