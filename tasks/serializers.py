"""Task input validation, shared by REST and the socket, and the task's output shape."""
from rest_framework import serializers

from collab_project.api.fields import FiniteFloatField, StrictCharField, StrictIntegerField
from tasks.models import Status


class TaskFieldsSerializer(serializers.Serializer):
    title = StrictCharField(min_length=1, max_length=500)
    description = StrictCharField(required=False, allow_blank=True, max_length=20000, trim_whitespace=False)
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    priority = StrictIntegerField(min_value=0, max_value=3, required=False)
    due_date = serializers.DateField(required=False, allow_null=True)
    assigned_to = StrictIntegerField(min_value=1, required=False, allow_null=True)
    position = FiniteFloatField(required=False, min_value=-1e12, max_value=1e12)


class TaskCreateSerializer(TaskFieldsSerializer):
    pass


class TaskUpdateSerializer(TaskFieldsSerializer):
    title = StrictCharField(min_length=1, max_length=500, required=False)
    version = StrictIntegerField()


class TaskDeleteSerializer(serializers.Serializer):
    id = serializers.UUIDField()


class TaskOutSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    workspace = serializers.UUIDField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    priority = serializers.IntegerField()
    due_date = serializers.DateField(allow_null=True)
    assigned_to = serializers.IntegerField(allow_null=True)
    position = serializers.FloatField()
    created_by = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TaskListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    assigned_to = serializers.CharField(required=False, max_length=20)
    q = serializers.CharField(required=False, max_length=200, allow_blank=True)

    def validate_assigned_to(self, value):
        if value in ("", "null", "none"):
            return None
        if not (value.isascii() and value.isdigit()) or int(value) > 2**31 - 1:  # "²".isdigit() is True
            raise serializers.ValidationError("Must be a user id, or null.")
        return int(value)
