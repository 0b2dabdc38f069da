"""The audit log: who did what to which record, and when."""
import json

from peewee import ForeignKeyField, IntegerField, TextField

from app.models.base import BaseModel, created_at_field, default
from app.models.org import User


class AuditLog(BaseModel):
    at = created_at_field()
    user = ForeignKeyField(User, null=True, backref="audit_entries", on_delete="SET NULL")
    action = TextField()
    entity = TextField()
    entity_id = IntegerField(null=True)
    detail = TextField(default="{}", constraints=[default("'{}'")])
    ip = TextField(null=True)

    class Meta:
        indexes = ((("entity", "entity_id"), False),)

    @classmethod
    def record(cls, user, action, entity, entity_id=None, ip=None, **detail):
        return cls.create(user=user, action=action, entity=entity, entity_id=entity_id,
                          detail=json.dumps(detail, ensure_ascii=False, default=str), ip=ip)
