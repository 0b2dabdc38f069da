"""Territories (片区 / 村 / 街道 / 组 / 商圈) and who is responsible for them (责任田)."""
from peewee import DateField, DoubleField, ForeignKeyField, TextField

from app import clock
from app.models.base import BaseModel, created_at_field, one_of
from app.models.org import BUSINESS_LINES, Branch, User

TERRITORY_KINDS = ("zone", "village", "street", "group", "market")
TIERS = ("gold", "mass", "potential")
SQ_M_PER_MU = 10000 / 15


class Territory(BaseModel):
    branch = ForeignKeyField(Branch, backref="territories", on_delete="RESTRICT")
    parent = ForeignKeyField("self", null=True, backref="children", on_delete="RESTRICT")
    kind = TextField(constraints=[one_of("kind", TERRITORY_KINDS)])
    name = TextField()
    code = TextField(null=True)
    # Materialised path '/3/17/': lists and scopes by a parent include its children.
    path = TextField(default="", index=True)
    geometry = TextField(null=True)  # GeoJSON geometry in WGS-84
    area_m2 = DoubleField(null=True)
    centroid_lat = DoubleField(null=True)
    centroid_lng = DoubleField(null=True)
    retired_on = DateField(null=True)
    created_at = created_at_field()

    class Meta:
        indexes = ((("branch", "code"), True),)

    @classmethod
    def add(cls, name, kind, branch, parent=None, **fields):
        territory = cls.create(name=name, kind=kind, branch=branch, parent=parent, **fields)
        territory.path = f"{parent.path if parent else '/'}{territory.id}/"
        territory.save(only=[cls.path])
        return territory

    @property
    def area_mu(self):
        return None if self.area_m2 is None else self.area_m2 / SQ_M_PER_MU

    @property
    def area_km2(self):
        return None if self.area_m2 is None else self.area_m2 / 1e6

    def subtree(self):
        return Territory.select().where(Territory.path.startswith(self.path))

    @classmethod
    def visible_to(cls, user):
        """Territories in the user's scope: assigned ones for a manager, the branch subtree otherwise."""
        from app.models.scope import territory_scope

        return cls.select().where(territory_scope(user))


class Assignment(BaseModel):
    """A manager's responsibility for a territory (分片), by business line (分线) and tier (分层)."""

    territory = ForeignKeyField(Territory, backref="assignments", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="assignments", on_delete="RESTRICT")
    business_line = TextField(constraints=[one_of("business_line", BUSINESS_LINES)])
    tier = TextField(null=True, constraints=[one_of("tier", TIERS)])
    starts_on = DateField()
    ends_on = DateField(null=True)
    assigned_by = ForeignKeyField(User, null=True, backref="assignments_made", on_delete="SET NULL")
    created_at = created_at_field()

    class Meta:
        indexes = (
            (("user", "ends_on"), False),
            (("territory", "ends_on"), False),
        )

    @classmethod
    def current(cls, day=None):
        """Assignments in force on day (today by default)."""
        day = day or clock.today()
        return cls.select().where(
            (cls.starts_on <= day) & (cls.ends_on.is_null() | (cls.ends_on >= day))
        )
