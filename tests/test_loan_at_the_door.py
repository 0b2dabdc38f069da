"""A loan is never signed at the doorstep (issue 21): a visit takes its application or its papers,
the branch signs it after its checks, and the lead is won with the branch's contract number.
Both databases."""
import uuid

import pytest

from app import clock
from app.models import Lead, Product, Visit, VisitProduct
from app.models.refused import Refused
from tests.conftest import login, soup, user
from tests.test_check_in import check_in


@pytest.fixture
def loan(ctx):
    return Product.create(bank=ctx.branches["A"], name="农户小额信用贷款", kind="loan")


@pytest.mark.parametrize("result", ["applied", "documents"])
def test_a_loan_visit_ends_with_its_application_taken_or_its_papers_received(ctx, loan, result):
    visit = check_in(ctx, outcome="applied", products=[(loan.id, result)]).visit
    assert Visit.get_by_id(visit.id).outcome == "applied"
    assert VisitProduct.get(VisitProduct.visit == visit.id).result == result


def test_a_loan_signed_at_a_visit_is_refused_with_the_reason_and_nothing_is_written(ctx, loan):
    before = Visit.select().count()
    with pytest.raises(Refused) as refused:
        check_in(ctx, outcome="met", products=[(loan.id, "signed")])
    assert refused.value.code == "loan_signed"
    assert "支行" in " ".join(map(str, refused.value.messages))
    assert Visit.select().count() == before


def test_a_visit_signed_on_a_loan_alone_is_refused_but_a_deposit_signed_beside_it_is_kept(ctx, loan):
    with pytest.raises(Refused) as refused:
        check_in(ctx, outcome="signed", products=[(loan.id, "applied")])
    assert "outcome" in refused.value.errors
    deposit = ctx.products["a"].id
    visit = check_in(ctx, outcome="signed", products=[(loan.id, "applied"), (deposit, "signed")]).visit
    assert {p.product_id: p.result for p in VisitProduct.select().where(VisitProduct.visit == visit.id)} == {
        loan.id: "applied", deposit: "signed"}


def test_a_deposit_may_still_be_signed_on_the_spot_but_not_given_a_loans_result(ctx):
    deposit = ctx.products["a"].id
    assert check_in(ctx, outcome="signed", products=[(deposit, "signed")]).visit.outcome == "signed"
    with pytest.raises(Refused):
        check_in(ctx, products=[(deposit, "documents")])


def test_a_loan_lead_is_won_only_with_the_branchs_contract_number(ctx, loan):
    mgr1 = user(ctx, "mgr1")
    lead, _ = Lead.capture(mgr1, {"client_uuid": str(uuid.uuid4()), "customer": ctx.customers["c_v1"].id,
                                  "product": loan.id, "amount": "5", "source": "visit"})
    with pytest.raises(Refused) as refused:
        lead.move(mgr1, "won", amount="5", won_on=clock.today())
    assert "合同" in str(refused.value.errors["reference"])
    assert Lead.get_by_id(lead.id).status == "new"
    lead.move(mgr1, "won", amount="5", won_on=clock.today(), reference="JK2026000123")
    assert Lead.get_by_id(lead.id).contract_no == "JK2026000123"


def test_the_check_in_form_offers_a_loan_no_signing(app, client, county):
    from app.db import database
    with app.app_context(), database.obj.connection_context():
        loan = Product.create(bank=county.branches["A"], name="农户小额信用贷款", kind="loan")
    login(client, "mgr1")
    page = soup(client.get(f"/visits/check-in/{county.customers['c_v1'].id}"))
    loan_results = {o["value"] for o in page.select(f"[name=product_{loan.id}] option, "
                                                     f"input[name=product_{loan.id}]") if o.get("value")}
    deposit = county.products["a"].id
    deposit_results = {o["value"] for o in page.select(f"[name=product_{deposit}] option, "
                                                        f"input[name=product_{deposit}]") if o.get("value")}
    assert "signed" not in loan_results and {"applied", "documents"} <= loan_results
    assert "signed" in deposit_results and "documents" not in deposit_results
