"""Input validation for workspace calls (REST and socket), plus output shapes for the schema."""
from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from collab_project.api.fields import (
    FiniteFloatField, JSONObjectField, StrictCharField, StrictIntegerField, StrictRegexField,
)

GRANTABLE_ROLES = ["viewer", "member", "admin"]


class RoleField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=GRANTABLE_ROLES, **kwargs)

    def to_internal_value(self, data):
        if data == "owner":
            raise serializers.ValidationError("Nobody can be made owner this way; transfer ownership instead.")
        return super().to_internal_value(data)


class RegisterSerializer(serializers.Serializer):
    username = StrictRegexField(r"^[\w.@+-]+\Z", max_length=150)
    password = StrictCharField(write_only=True, max_length=128, trim_whitespace=False)
    email = serializers.EmailField(required=False, allow_blank=True)

    def validate(self, attrs):
        try:
            password_validation.validate_password(attrs["password"], User(username=attrs["username"]))
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class WorkspaceCreateSerializer(serializers.Serializer):
    name = StrictCharField(min_length=1, max_length=200)
    description = StrictCharField(required=False, allow_blank=True, max_length=5000, default="")
    settings = JSONObjectField(required=False, default=dict)


class WorkspaceUpdateSerializer(serializers.Serializer):
    name = StrictCharField(min_length=1, max_length=200, required=False)
    description = StrictCharField(required=False, allow_blank=True, max_length=5000)
    settings = JSONObjectField(required=False)


class TransferSerializer(serializers.Serializer):
    user_id = StrictIntegerField(min_value=1)


class MemberAddSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    role = RoleField(required=False, default="member")


class MemberRoleSerializer(serializers.Serializer):
    role = RoleField()


class InviteCreateSerializer(serializers.Serializer):
    role = RoleField(required=False, default="member")
    max_uses = StrictIntegerField(min_value=1, required=False, allow_null=True, default=None)
    expires_in_hours = FiniteFloatField(max_value=8760, required=False, allow_null=True, default=168)

    def validate_expires_in_hours(self, value):
        if value is not None and not 0 < value <= 8760:
            raise serializers.ValidationError("Must be a positive number of hours, at most 8760.")
        return value


class JoinSerializer(serializers.Serializer):
    token = StrictCharField(max_length=200)


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class WorkspaceOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    settings = serializers.JSONField()
    owner = UserRefSerializer()
    role = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class MemberOutSerializer(serializers.Serializer):
    user = UserRefSerializer()
    role = serializers.CharField()
    joined_at = serializers.DateTimeField()


class InviteOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    token = serializers.CharField(required=False)
    url = serializers.URLField(required=False)
    role = serializers.CharField()
    max_uses = serializers.IntegerField(allow_null=True)
    uses = serializers.IntegerField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked = serializers.BooleanField()


class EventOutSerializer(serializers.Serializer):
    type = serializers.CharField()
    seq = serializers.IntegerField()
    ts = serializers.DateTimeField()
    actor = UserRefSerializer(allow_null=True)
    op_id = serializers.CharField(allow_null=True)
    data = serializers.JSONField()


class EventPageSerializer(serializers.Serializer):
    results = EventOutSerializer(many=True)
    has_more = serializers.BooleanField()


class JoinOutSerializer(serializers.Serializer):
    workspace = WorkspaceOutSerializer()
    role = serializers.CharField()
