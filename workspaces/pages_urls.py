"""Web pages: accounts, the workspace list, the board, members, joining."""
from django.contrib.auth import views as auth_views
from django.urls import path

from workspaces import pages

urlpatterns = [
    path("accounts/signup/", pages.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("workspaces/<str:ws>/", pages.board, name="board"),
    path("workspaces/<str:ws>/members/", pages.members, name="members-page"),
    path("join/<str:token>/", pages.join, name="join-page"),
    path("", pages.home, name="home"),
]
