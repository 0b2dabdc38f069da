"""Customer imports (建档 lists and core-banking exports): jobs, saved column mappings."""
import json

from peewee import DateTimeField, ForeignKeyField, IntegerField, TextField

from app import clock
from app.models.base import BaseModel, created_at_field, default, one_of
from app.models.org import Branch, User
from app.models.scope import branch_ids

IMPORT_KINDS = ("archive", "core")
FILE_FORMATS = ("xlsx", "csv")
JOB_STATUSES = ("mapping", "checking", "checked", "writing", "done", "failed")
RUNNING = ("checking", "writing")


class ImportMapping(BaseModel):
    """A column mapping the bank saved for files of one shape (the same headers)."""

    bank = ForeignKeyField(Branch, backref="import_mappings", on_delete="CASCADE")
    kind = TextField(constraints=[one_of("kind", IMPORT_KINDS)])
    signature = TextField()
    mapping = TextField()
    updated_at = DateTimeField(default=clock.now, constraints=[default("CURRENT_TIMESTAMP")])

    class Meta:
        indexes = ((("bank", "kind", "signature"), True),)

    @classmethod
    def find(cls, bank, kind, signature):
        saved = cls.get_or_none(cls.bank == bank, cls.kind == kind, cls.signature == signature)
        return json.loads(saved.mapping) if saved else None

    @classmethod
    def remember(cls, bank, kind, signature, mapping):
        text = json.dumps(mapping, ensure_ascii=False, sort_keys=True)
        updated = (cls.update(mapping=text, updated_at=clock.now())
                   .where(cls.bank == bank, cls.kind == kind, cls.signature == signature).execute())
        if not updated:
            cls.create(bank=bank, kind=kind, signature=signature, mapping=text)


class ImportJob(BaseModel):
    """One uploaded file on its way in: mapped, checked (dry run), then written once."""

    token = TextField(unique=True)  # names the uploaded file under instance/imports/customers/
    branch = ForeignKeyField(Branch, backref="import_jobs", on_delete="CASCADE")
    user = ForeignKeyField(User, null=True, backref="import_jobs", on_delete="SET NULL")
    kind = TextField(constraints=[one_of("kind", IMPORT_KINDS)])
    filename = TextField()
    file_format = TextField(constraints=[one_of("file_format", FILE_FORMATS)])
    encoding = TextField(null=True)
    header_row = IntegerField(default=1, constraints=[default("1")])
    signature = TextField(default="", constraints=[default("''")])
    mapping = TextField(default="{}", constraints=[default("'{}'")])
    status = TextField(default="mapping", constraints=[one_of("status", JOB_STATUSES), default("'mapping'")])
    total_rows = IntegerField(null=True)
    processed_rows = IntegerField(default=0, constraints=[default("0")])
    counts = TextField(default="{}", constraints=[default("'{}'")])
    problems = TextField(default="[]", constraints=[default("'[]'")])
    preview = TextField(default="{}", constraints=[default("'{}'")])
    error = TextField(null=True)
    created_at = created_at_field()
    updated_at = DateTimeField(default=clock.now, constraints=[default("CURRENT_TIMESTAMP")])
    written_at = DateTimeField(null=True)

    @classmethod
    def visible_to(cls, user):
        """Jobs of the user's branch subtree (the scope every import page goes through)."""
        return cls.select().where(cls.branch.in_(branch_ids(user)))

    def data(self, name):
        return json.loads(getattr(self, name) or "null")

    @property
    def running(self):
        return self.status in RUNNING
