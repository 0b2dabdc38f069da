"""Every model of the glossary, in the order their tables are created."""
from app.models.audit import AuditLog
from app.models.campaign import Campaign, CampaignTerritory
from app.models.customer import (Customer, CustomerChange, CustomerMember, Holding, compute_tier,
                                 mask_phone)
from app.models.importing import ImportJob, ImportMapping
from app.models.job import Job, PeriodicRun
from app.models.lead import Lead, LeadEvent, LostReason
from app.models.org import Branch, User
from app.models.product import Product
from app.models.setting import Setting
from app.models.tier import TierRule
from app.models.territory import Assignment, Territory
from app.models.visit import FollowUp, Visit, VisitFix, VisitProduct

ALL_MODELS = [
    Branch, User, Territory, Assignment, Product, Customer, CustomerMember, Holding,
    Visit, VisitProduct, FollowUp, Lead, Campaign, CampaignTerritory, AuditLog, Setting,
    CustomerChange, TierRule, ImportMapping, ImportJob, VisitFix, LeadEvent, LostReason,
    Job, PeriodicRun,
]

__all__ = [m.__name__ for m in ALL_MODELS] + ["ALL_MODELS", "compute_tier", "mask_phone"]
