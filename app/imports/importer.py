"""Checking and writing an import: every row parsed, checked with the archive's field rules,
matched, placed, counted; nothing written until the user confirms, then one transaction.

The same function does the dry run and the write (write=False / True), streaming the
file in chunks of CHUNK rows with one look-up query per chunk, so a 200,000-row file
never sits in memory and the write re-checks against the archive as it is then.
"""
import json
import time
from collections import defaultdict
from types import SimpleNamespace

from flask import current_app

from app import clock, crypto
from app.db import database
from app.db_bulk import bulk_insert, roomy_write_cache
from app.files import private_open
from app.models import Branch, Customer, CustomerChange, Holding, Product
from app.models.customer import compute_tier
from app.models.importing import ImportJob
from app.models.territory import bank_of, placer_for
from app.models.tier import TierRule
from app.imports.fields import FIELD_TYPES, REQUIRED, base_field, field_label
from app.imports.rows import (COMPARED, F, NamePlacer, Row, field_rules, msgid, norm, parse_row, reason,
                              render)
from app.imports.uploads import KEEP_DAYS, job_file
from app.imports.spreadsheet import Table, Unreadable, cell_text, is_damaged_number

CHUNK = 1000
SHOWN = {"refused": 200, "updated": 100, "new": 30, "unplaced": 200, "missing": 200, "tiers": 100}


def mapping_of(job):
    return {int(k): v for k, v in job.data("mapping").items()}


def mapping_problems(mapping, kind):
    problems = []
    seen = set()
    for name in mapping.values():
        if base_field(name) in seen:
            problems.append(reason("twice", F, field=_label(name)))
        seen.add(base_field(name))
    if REQUIRED[kind] not in mapping.values():
        problems.append(reason("required", F, field=_label(REQUIRED[kind])))
    return problems


def _label(name):
    return msgid(field_label(name))


def gone(job):
    """The job's file was deleted (after KEEP_DAYS): the import stops there."""
    _finish(job, "failed", problems=[reason("gone", F, days=KEEP_DAYS)])


def task_key(job, write):
    """The background job's key for this import's check or write: one live at a time."""
    return f"import:{job.id}:{'write' if write else 'check'}"


def render_problems(problems):
    return [render(p) for p in problems]


def run(job, write=False, user=None, progress=None, tracker=None):
    """Check (or write) the import's file; returns the counts. `tracker` (the Job of
    app/models/job.py running it) gets the progress and heartbeat; `progress(done, total)` too.

    The write is one transaction that also marks the import done, so a run killed midway
    wrote nothing and a run after a finished one finds it done."""
    path = job_file(job)
    if not path.exists():
        gone(job)
        return {}
    mapping = mapping_of(job)
    labels = {name: msgid(field_label(name)) for name in FIELD_TYPES[job.kind]}
    problems = mapping_problems(mapping, job.kind)
    parsed = job_file(job, ".parsed.jsonl")
    if write and parsed.exists():
        # The dry run's parsed rows, not the file again: parsing is most of a check's cost, and
        # the file has not changed (a check that found a problem with the file, merged header
        # cells included, cannot be written). Matching is done afresh. The sheet is not even
        # opened: calamine would load all of it for nothing.
        table = SimpleNamespace(total=job.total_rows, close=lambda: None)
    else:
        table = Table(path, job.file_format, job.encoding)
    try:
        merged = table.header_merges() if isinstance(table, Table) else []
        if merged:
            problems.append(reason("merged", F, ranges=", ".join(merged[:5])))
        state = _State(job, mapping, labels, write, user)
        state.tracker = tracker
        config = current_app.config
        state.chunk = int(config.get("IMPORT_CHUNK_ROWS") or CHUNK)
        state.row_delay = float(config.get("IMPORT_ROW_DELAY") or 0)
        if write:
            rows = _parsed_rows(parsed) if parsed.exists() else _table_rows(table)
            roomy_write_cache()  # this connection is the worker's own
            with database.atomic():
                _stream(rows, table, state, progress)
                _wrap_up(job, state, problems, write)
        else:
            with private_open(parsed, "w") as out:
                state.parsed_out = out
                _stream(_table_rows(table), table, state, progress)
            _wrap_up(job, state, problems, write)
    except Unreadable as error:
        _finish(job, "failed", problems=problems + [[error.problem.message, error.problem.params]])
        return {}
    finally:
        table.close()
    if write:
        job_file(job, ".parsed.jsonl").unlink(missing_ok=True)  # it holds ID numbers in clear
    return state.counts


def _wrap_up(job, state, problems, write):
    if state.tracker is not None:
        state.tracker.progress(state.rows_seen, state.rows_seen)  # the file's size was a guess
    if state.damaged_ids:
        problems.append(reason("id_damaged", F, n=state.damaged_ids, row=state.first_damaged))
    state.save_refused()
    _finish(job, "done" if write else "checked", counts=state.counts, problems=problems,
            preview=state.preview, total=state.rows_seen)


def _finish(job, status, counts=None, problems=None, preview=None, total=None):
    job.status = status
    job.updated_at = clock.now()
    if counts is not None:
        job.counts = json.dumps(counts)
    if problems is not None:
        job.problems = json.dumps(problems, ensure_ascii=False)
    if preview is not None:
        job.preview = json.dumps(preview, ensure_ascii=False)
    if total is not None:
        job.total_rows = job.processed_rows = total
    if status == "done":
        job.written_at = clock.now()
    job.save()


def _table_rows(table):
    for number, raw in table.rows():
        yield Row(number, raw)


def _parsed_rows(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            number, raw, values, reasons, id_number, id_hash, products = json.loads(line)
            row = Row(number, raw)
            row.values, row.reasons, row.id_number, row.id_hash, row.products = (
                values, reasons, id_number, id_hash, products)
            row.parsed = True
            yield row


def _stream(rows, table, state, progress):
    chunk = []
    for row in rows:
        if state.row_delay:
            time.sleep(state.row_delay)  # tests only (IMPORT_ROW_DELAY): a run slow enough to kill
        chunk.append(row)
        if len(chunk) >= state.chunk:
            state.handle(chunk)
            chunk = []
            _report(state, table, progress)
    if chunk:
        state.handle(chunk)
    _report(state, table, progress)


def _report(state, table, progress):
    job = state.job
    total = max(table.total or 0, state.rows_seen)
    if progress:
        progress(state.rows_seen, total)
    if state.tracker is not None:
        state.tracker.progress(state.rows_seen, total)
    if not state.write:
        ImportJob.update(total_rows=total, updated_at=clock.now()).where(ImportJob.id == job.id).execute()


class _State:
    """What the run has seen so far: counts, the first rows of each kind, keys for repeats."""

    def __init__(self, job, mapping, labels, write, user):
        self.job, self.mapping, self.labels, self.write, self.user = job, mapping, labels, write, user
        self.kind = job.kind
        self.branch = Branch.get_by_id(job.branch_id)
        self.bank = bank_of(self.branch)
        self.bank_branch_set = {b.id for b in Branch.select(Branch.id).where(Branch.path.startswith(self.bank.path))}
        self.rules = field_rules()
        self.tier_rules = TierRule.for_bank(self.bank.id)
        self.names = NamePlacer(self.branch) if self.kind == "archive" else None
        mapped = set(mapping.values())
        self.geo = placer_for(self.branch) if {"lat", "lng"} <= mapped else None
        self.catalogue = ({norm(p.name): p.id for p in Product.select().where(Product.bank == self.bank.id)}
                          if self.kind == "core" else {})
        self.catalogue_names = {v: k for k, v in self.catalogue.items()}
        self.counts = defaultdict(int)
        self.preview = defaultdict(list)
        self.keys = {}      # a person's key in the file → first row number
        self.matched = {}   # customer id → first row number
        self.refused_path = job_file(job, ".refused.jsonl")
        self.refused_file = private_open(self.refused_path, "w")
        self.rows_seen = 0
        self.damaged_ids, self.first_damaged = 0, None
        self.today = clock.today()
        self.now = clock.now()
        self.fernet = crypto.id_cipher() if write else None
        self.parsed_out = None  # the dry run keeps its parsed rows here for the write
        self.blank = {name: None for name in COMPARED}
        self.blank.update(branch=self.branch.id, deposit_balance_wan=0, loan_balance_wan=0, products_elsewhere="",
                          id_number_cipher=None, id_number_hash=None, lat=None, lng=None, position_source=None,
                          position_confirmed=True, consent=False, status="active", created_at=self.now,
                          updated_at=self.now)

    # -- per chunk ---------------------------------------------------------------------------
    def handle(self, rows):
        for row in rows:
            if not row.parsed:
                parse_row(row, self.mapping, self.kind, self.rules, self.labels)
                if self.parsed_out is not None:
                    self.parsed_out.write(json.dumps(
                        [row.number, [cell_text(v) for v in row.raw], row.values, row.reasons, row.id_number,
                         row.id_hash, row.products], ensure_ascii=False) + "\n")
            if row.values.get("_id_damaged"):
                self.damaged_ids += 1
                self.first_damaged = self.first_damaged or row.number
        self.rows_seen += len(rows)
        live = [r for r in rows if not r.reasons]
        found = self._look_up(live)
        if self.kind == "archive":
            self._archive(live, found)
        else:
            self._core(live, found)
        for row in rows:
            self._count(row)
        if self.write:
            self._write(rows)

    def _look_up(self, rows):
        """The bank's customers any of these rows could be: by ID hash, phone, customer number."""
        hashes = [r.id_hash for r in rows if r.id_hash]
        phones = [r.values["phone"] for r in rows if r.values.get("phone")]
        cores = [r.values["core_no"] for r in rows if r.values.get("core_no")]
        found = SimpleNamespace(by_hash={}, by_phone_name={}, by_core={}, holdings=defaultdict(set))
        # One query per key, each on its own index; the bank is checked here, because with
        # "branch IN (…)" in the query SQLite walks the whole bank for every chunk.
        bank = self.bank_branch_set
        for column, keys in ((Customer.id_number_hash, hashes), (Customer.phone, phones),
                             (Customer.core_no, cores)):
            if not keys:
                continue
            keys = list(set(keys))
            # Plain SQL with one parameter a key: peewee builds a node per value of an IN list,
            # which cost more than the query itself at 1,000 keys a chunk.
            marks = ", ".join([database.obj.param] * len(keys))
            sql = (f'SELECT * FROM "{Customer._meta.table_name}" WHERE "{column.column_name}" IN ({marks}) '
                   'ORDER BY "id"')
            for c in Customer.raw(sql, *keys):
                if c.branch_id not in bank:
                    continue
                if c.id_number_hash:
                    found.by_hash.setdefault(c.id_number_hash, c)
                if c.phone:
                    found.by_phone_name.setdefault((c.phone, norm(c.name)), c)
                if c.core_no:
                    found.by_core.setdefault(c.core_no, c)
        if self.kind == "core" and found.by_core:
            ids = [c.id for c in found.by_core.values()]
            for customer_id, product_id in (Holding.select(Holding.customer, Holding.product)
                                            .where(Holding.customer.in_(ids)).tuples()):
                found.holdings[customer_id].add(product_id)
        return found

    def _archive(self, rows, found):
        for row in rows:
            v = row.values
            if row.id_hash:
                row.key = ("id", row.id_hash)
            elif v.get("phone"):
                row.key = ("phone", v["phone"], norm(v["name"]))
            else:
                row.key = ("name", norm(v["name"]), v.get("village"), v.get("group_name"), v.get("house_no"))
            if row.key in self.keys:
                row.reasons.append(reason("repeat", row=self.keys[row.key]))
                continue
            self.keys[row.key] = row.number
            customer = found.by_hash.get(row.id_hash) if row.id_hash else None
            if customer is None and v.get("phone"):
                customer = found.by_phone_name.get((v["phone"], norm(v["name"])))
                if customer is not None and row.id_hash and customer.id_number_hash not in (None, row.id_hash):
                    row.reasons.append(reason("id_conflict", name=customer.name))
                    continue
            if customer is None and v.get("core_no"):
                customer = found.by_core.get(v["core_no"])
            if customer is not None and v.get("core_no"):
                other = found.by_core.get(v["core_no"])
                if other is not None and other.id != customer.id:
                    row.reasons.append(reason("core_no_taken", value=v["core_no"], name=other.name))
                    continue
            elif customer is None and v.get("core_no") and v["core_no"] in found.by_core:
                other = found.by_core[v["core_no"]]
                row.reasons.append(reason("core_no_taken", value=v["core_no"], name=other.name))
                continue
            if customer is not None:
                if customer.id in self.matched:
                    row.reasons.append(reason("same_customer", row=self.matched[customer.id]))
                    continue
                self.matched[customer.id] = row.number
                row.customer = customer
                self._compare(row, customer)
                row.outcome = "updated" if row.changes else "unchanged"
            else:
                row.outcome = "new"
                self._place(row)

    def _compare(self, row, customer):
        for name in COMPARED:
            if name not in row.values:
                continue
            new, old = row.values[name], getattr(customer, name)
            if isinstance(new, float) and old is not None:
                same = abs(float(old) - new) < 1e-6
            else:
                same = old == new
            if not same:
                row.changes.append((name, old, new))
        if row.id_hash and customer.id_number_hash is None:
            row.changes.append(("id_number", None, row.id_number))
        if customer.territory_id is None:
            self._place(row)
            if row.territory_id:
                row.changes.append(("territory", None, row.territory_id))

    def _place(self, row):
        v = row.values
        if self.geo is not None and v.get("lat") is not None and v.get("lng") is not None:
            row.territory_id = self.geo.place_one(v["lng"], v["lat"])
            if row.territory_id:
                return
        row.territory_id, note = self.names.place(v.get("village"), v.get("group_name"), v.get("street"))
        if note:
            row.notes.append(note)

    def _core(self, rows, found):
        for row in rows:
            core_no = row.values["core_no"]
            row.key = ("core", core_no)
            if row.key in self.keys:
                row.reasons.append(reason("repeat", row=self.keys[row.key]))
                continue
            self.keys[row.key] = row.number
            customer = found.by_core.get(core_no)
            if customer is None:
                row.outcome = "missing"
                row.notes.append(reason("not_in_archive", value=core_no))
                continue
            row.customer = customer
            self._compare(row, customer)
            row.changes = [c for c in row.changes if c[0] in ("deposit_balance_wan", "loan_balance_wan")]
            if row.products is not None:
                wanted = {self.catalogue[norm(p)] for p in row.products if norm(p) in self.catalogue}
                unknown = [p for p in row.products if norm(p) not in self.catalogue]
                if unknown:
                    row.notes.append(reason("unknown_products", names="、".join(unknown)))
                held = found.holdings.get(customer.id, set())
                if wanted != held:
                    row.changes.append(("products", _names(held, self.catalogue_names),
                                        _names(wanted, self.catalogue_names)))
                row.products = wanted
            row.outcome = "updated" if row.changes else "unchanged"
            self._tier_change(row, customer)

    def _tier_after(self, row, customer):
        """The customer's (tier, rule) once the row's values are written; row.tier when it changes."""
        v = row.values
        after = SimpleNamespace(
            business_volume_wan=(v.get("deposit_balance_wan", customer.deposit_balance_wan) or 0)
            + (v.get("loan_balance_wan", customer.loan_balance_wan) or 0),
            credit_rating=v.get("credit_rating", customer.credit_rating),
            scale_mu=v.get("scale_mu", customer.scale_mu))
        outcome = compute_tier(after, self.tier_rules)
        if outcome != (customer.tier, customer.tier_rule):
            row.tier = outcome
        return outcome

    def _tier_change(self, row, customer):
        tier, _rule = self._tier_after(row, customer)
        if tier != customer.tier:
            self.counts["tier_changes"] += 1
            if len(self.preview["tiers"]) < SHOWN["tiers"]:
                self.preview["tiers"].append({"row": row.number, "name": customer.name, "id": customer.id,
                                              "old": customer.tier, "new": tier})

    def _count(self, row):
        if row.reasons:
            row.outcome = "refused"
        self.counts[row.outcome] += 1
        if row.outcome in ("refused", "missing"):
            reasons = row.reasons or row.notes
            self.refused_file.write(json.dumps({"row": row.number, "values": [cell_text(v) for v in row.raw],
                                                "reasons": reasons}, ensure_ascii=False) + "\n")
        unplaced = row.outcome in ("new", "updated") and row.notes and self.kind == "archive" \
            and not row.territory_id and (row.customer is None or row.customer.territory_id is None)
        if unplaced:
            self.counts["unplaced"] += 1
        bucket = {"refused": "refused", "missing": "missing", "updated": "updated", "new": "new"}.get(row.outcome)
        if unplaced:
            self._show("unplaced", row)
        if bucket:
            self._show(bucket, row)

    def _show(self, bucket, row):
        if len(self.preview[bucket]) >= SHOWN[bucket]:
            return
        v = row.values
        name = v.get("name") or (row.customer.name if row.customer else "")
        phone = v.get("phone") or _raw_of(row, self.mapping, "phone")
        entry = {"row": row.number, "name": name or "", "phone": crypto.mask_phone(phone),
                 "id": crypto.mask_id(row.id_number) if row.id_number else _masked_raw_id(row, self.mapping),
                 "place": " ".join(x for x in (v.get("village"), v.get("group_name"), v.get("street")) if x),
                 "core_no": v.get("core_no", ""),
                 "reasons": row.reasons or row.notes,
                 "customer": row.customer.id if row.customer else None,
                 "changes": [[c[0], _shown(c[0], c[1]), _shown(c[0], c[2])] if c[0] != "territory" else
                             [c[0], None, self.names.names.get(c[2]) if self.names else None] for c in row.changes]}
        self.preview[bucket].append(entry)

    # -- writing -----------------------------------------------------------------------------
    def _write(self, rows):
        if self.kind == "archive":
            self._write_archive(rows)
        else:
            self._write_core(rows)

    def _write_archive(self, rows):
        user_id = self.user.id if self.user else None
        new = [r for r in rows if r.outcome == "new"]
        records = []
        for row in new:
            # Plain dicts, every one with the same keys, for one multi-row INSERT: building a
            # peewee model per row costs more than the write.
            v = row.values
            record = dict(self.blank)
            record.update((name, v[name]) for name in COMPARED if name in v)
            record["kind"] = v.get("kind") or "household"
            record["territory"] = row.territory_id
            if row.id_number:
                record["id_number_cipher"] = crypto.encrypt_id(row.id_number, self.fernet)
                record["id_number_hash"] = row.id_hash
            if v.get("lat") is not None and v.get("lng") is not None:
                record.update(lat=v["lat"], lng=v["lng"], position_source="import")
            record["tier"], record["tier_rule"] = compute_tier(SimpleNamespace(
                business_volume_wan=(record["deposit_balance_wan"] or 0) + (record["loan_balance_wan"] or 0),
                credit_rating=record["credit_rating"], scale_mu=record["scale_mu"]), self.tier_rules)
            records.append(record)
        history = []
        for customer_id in bulk_insert(Customer, records, batch=400, returning=True):
            history.append({"customer": customer_id, "user": user_id, "field": "imported", "old": None,
                            "new": self.job.filename, "at": self.now})
        for row in rows:
            if row.outcome != "updated":
                continue
            update = {}
            for name, old, new in row.changes:
                if name == "id_number":
                    update["id_number_cipher"] = crypto.encrypt_id(new)
                    update["id_number_hash"] = row.id_hash
                    history.append({"customer": row.customer.id, "user": user_id, "field": "id_number",
                                    "old": None, "new": crypto.mask_id(new), "at": self.now})
                    continue
                update["territory_id" if name == "territory" else name] = new
                if name != "territory":
                    history.append({"customer": row.customer.id, "user": user_id, "field": name,
                                    "old": _shown(name, old), "new": _shown(name, new), "at": self.now})
            self._tier_after(row, row.customer)
            if row.tier:
                update["tier"], update["tier_rule"] = row.tier
            update["updated_at"] = self.now
            Customer.update(update).where(Customer.id == row.customer.id).execute()
        bulk_insert(CustomerChange, history)

    def _write_core(self, rows):
        matched = [r for r in rows if r.outcome in ("updated", "unchanged")]
        for row in matched:
            update = {name: new for name, _old, new in row.changes if name != "products"}
            if row.tier:
                update["tier"], update["tier_rule"] = row.tier
            if update:
                Customer.update(update).where(Customer.id == row.customer.id).execute()
            if row.products is not None and any(c[0] == "products" for c in row.changes):
                keep = list(row.products)
                Holding.delete().where((Holding.customer == row.customer.id)
                                       & Holding.product.not_in(keep or [0])).execute()
                held = {h for (h,) in Holding.select(Holding.product).where(Holding.customer == row.customer.id)
                        .tuples()}
                new = [{"customer": row.customer.id, "product": p, "since": self.today} for p in keep
                       if p not in held]
                if new:
                    Holding.insert_many(new).execute()
        ids = [r.customer.id for r in matched]
        for start in range(0, len(ids), 500):
            Customer.update(refreshed_on=self.today, updated_at=self.now).where(
                Customer.id.in_(ids[start:start + 500])).execute()

    def save_refused(self):
        self.refused_file.close()
        self.counts = dict(self.counts)
        self.preview = dict(self.preview)


def _names(ids, names):
    return "、".join(sorted(names[i] for i in ids)) or None


def _shown(name, value):
    if value is None or value == "":
        return None
    if name == "phone":
        return crypto.mask_phone(value)
    if name == "id_number":
        return crypto.mask_id(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _raw_of(row, mapping, field):
    for index, name in mapping.items():
        if name == field and index < len(row.raw):
            return cell_text(row.raw[index])
    return ""


def _masked_raw_id(row, mapping):
    text = _raw_of(row, mapping, "id_number")
    if not text:
        return ""
    if is_damaged_number(text) or "E" in text.upper():
        return text
    return crypto.mask_id(text) if len(text) > 8 else "****"
