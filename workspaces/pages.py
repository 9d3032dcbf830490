"""Page views. They render templates and hand writes to the services; the
board itself talks to the REST API and the sockets from the browser."""
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from collab_project.errors import DomainError, Gone, NotFound
from workspaces import selectors, services
from workspaces.access import has_role
from workspaces.forms import SignupForm, WorkspaceForm
from workspaces.models import Role


COLUMNS = (("todo", "To do"), ("in_progress", "In progress"), ("done", "Done"))


def _membership_or_404(request, ws):
    try:
        return selectors.membership_get(user=request.user, workspace_id=ws)
    except NotFound:
        raise Http404() from None


def _next_url(request) -> str:
    """Where to go after signing up: a local ?next= (an invite link), else /."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return "/"


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect(_next_url(request))
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = form.save()
        except DomainError as exc:
            form.add_error("username", exc.detail)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(_next_url(request))
    return render(request, "registration/signup.html", {"form": form, "next": _next_url(request)})


@login_required
@require_http_methods(["GET", "POST"])
def home(request):
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = services.workspace_create(actor=request.user, **form.cleaned_data)
        return redirect("board", ws=result.data["id"])
    memberships = selectors.workspace_list(user=request.user)
    return render(request, "workspaces/home.html", {"form": form, "memberships": memberships})


def _page_context(request, membership) -> dict:
    workspace = membership.workspace
    return {
        "workspace": workspace,
        "membership": membership,
        "can_edit": has_role(membership.role, Role.MEMBER),
        "can_manage": has_role(membership.role, Role.ADMIN),
        "page_data": {
            "workspace": {"id": str(workspace.id), "name": workspace.name},
            "user": {"id": request.user.pk, "username": request.user.get_username()},
            "role": membership.role,
        },
    }


@login_required
def board(request, ws):
    membership = _membership_or_404(request, ws)
    return render(request, "workspaces/board.html", {**_page_context(request, membership), "columns": COLUMNS})


@login_required
def members(request, ws):
    membership = _membership_or_404(request, ws)
    return render(request, "workspaces/members.html", _page_context(request, membership))


@login_required
@require_http_methods(["GET", "POST"])
def join(request, token):
    try:
        invite = services.invite_find(token)
    except NotFound:
        raise Http404() from None
    workspace = invite.workspace
    already = selectors.workspace_list(user=request.user).filter(workspace=workspace).exists()
    problem = None
    if request.method == "POST":
        try:
            services.invite_accept(actor=request.user, token=token)
        except Gone as exc:
            problem = exc.detail
        else:
            messages.success(request, f"You joined {workspace.name}.")
            return redirect("board", ws=workspace.id)
    elif not already:
        try:
            services.invite_check_usable(invite)
        except Gone as exc:
            problem = exc.detail
    status = 410 if problem else 200
    return render(request, "workspaces/join.html",
                  {"invite": invite, "workspace": workspace, "already": already, "problem": problem},
                  status=status)
