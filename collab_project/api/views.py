"""Helpers shared by the REST views of every app."""
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.idempotency import WriteResult, operation_recorded
from workspaces.selectors import membership_get


def idempotency_key(request) -> str | None:
    return request.headers.get("Idempotency-Key")


def write_response(result: WriteResult) -> Response:
    if result.http_status == 204:
        return Response(status=204)
    return Response(result.data, status=result.http_status)


def validated(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class WorkspaceScopedView(APIView):
    """Resolves the caller's membership first, so a non-member gets 404 before
    any validation error could tell them the workspace exists.

    `min_roles` names the least role per HTTP method where it does not depend
    on the body, so a role too low hears 403 whatever it sent; the service
    checks again under its lock.
    """

    min_roles: dict[str, str] = {}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.membership = None
        if request.method not in SAFE_METHODS and operation_recorded(user=request.user,
                                                                     key=idempotency_key(request)):
            return  # a retry: the service replays its first answer, whatever the caller's role is now
        self.membership = membership_get(user=request.user, workspace_id=kwargs["ws"],
                                         min_role=self.min_roles.get(request.method, "viewer"))
