"""The one mapping of errors to HTTP: every error body is {code, detail[, fields]}."""
import logging

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from collab_project.dbpool import pool_suspect

from collab_project.errors import DomainError

logger = logging.getLogger("collab.api")


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": [str(m) for m in detail]}
    return {"non_field_errors": [str(detail)]}


def _first_message(fields: dict[str, list[str]]) -> str:
    for name, messages in fields.items():
        if messages:
            prefix = "" if name == "non_field_errors" else f"{name}: "
            return prefix + str(messages[0])
    return "Invalid input."


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.body(), status=exc.status)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database is unreachable: nothing was written (the transaction
        # rolled back); the client may retry, with the same Idempotency-Key.
        logger.warning("database unavailable", extra={"error": type(exc).__name__})
        pool_suspect()
        return Response({"code": "unavailable", "detail": "The service is briefly unavailable; retry."},
                        status=503, headers={"Retry-After": "5"})
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        return Response({"code": "invalid", "detail": _first_message(fields), "fields": fields}, status=400)
    if isinstance(exc, RecursionError) and "JSON" in str(exc):
        # json.loads gives up on deeply nested input with RecursionError, which
        # DRF's parser lets through (it only wraps ValueError).
        exc = exceptions.ParseError("JSON parse error - nested too deeply.")
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    if isinstance(detail, dict):
        message = str(detail.get("detail", "")) or _first_message(_flatten(detail))
    elif isinstance(detail, list):
        message = " ".join(str(d) for d in detail)
    else:
        message = str(detail)
    code = getattr(exc, "default_code", "error")
    codes = {401: None, 403: "forbidden", 404: "not_found", 429: "rate_limited", 400: "invalid"}
    code = codes.get(response.status_code) or code
    if response.status_code == 401:
        code = "not_authenticated" if isinstance(exc, exceptions.NotAuthenticated) else "authentication_failed"
    response.data = {"code": code, "detail": message}
    if response.status_code == 400:
        response.data["fields"] = _flatten(detail)  # e.g. a ParseError: every 400 names its fields
    return response


def json_not_found(request, exception=None):
    """handler404 for /api/ paths, so unmatched API URLs answer in the contract's shape."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_server_error(request):
    logger.error("unhandled server error", extra={"path": request.path})
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "server_error", "detail": "Internal error."}, status=500)
    from django.views.defaults import server_error

    return server_error(request)


__all__ = ["exception_handler", "json_not_found", "json_server_error", "status"]
