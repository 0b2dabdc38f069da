"""Campaigns (营销活动): a 进村入户 drive over some territories, with goals."""
from peewee import DateField, DoubleField, ForeignKeyField, IntegerField, TextField

from app.models.base import BaseModel, created_at_field
from app.models.org import Branch, User
from app.models.territory import Territory


class Campaign(BaseModel):
    branch = ForeignKeyField(Branch, backref="campaigns", on_delete="RESTRICT")
    name = TextField()
    starts_on = DateField()
    ends_on = DateField()
    coverage_goal_pct = DoubleField(null=True)
    signup_goal = IntegerField(null=True)
    created_by = ForeignKeyField(User, null=True, backref="campaigns", on_delete="SET NULL")
    created_at = created_at_field()


class CampaignTerritory(BaseModel):
    campaign = ForeignKeyField(Campaign, backref="territory_links", on_delete="CASCADE")
    territory = ForeignKeyField(Territory, backref="campaign_links", on_delete="CASCADE")

    class Meta:
        indexes = ((("campaign", "territory"), True),)
