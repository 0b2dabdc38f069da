"""Checking and writing an import: every row parsed, checked with the archive form's rules,
matched, placed, counted; nothing written until the user confirms, then one transaction.

The same function does the dry run and the write (write=False / True), streaming the
file in chunks of CHUNK rows with one look-up query per chunk, so a 200,000-row file
never sits in memory and the write re-checks against the archive as it is then.
"""
import datetime as dt
import functools
import json
import re
import threading
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

from flask import current_app
from flask_babel import lazy_gettext as _l

from app import clock, crypto
from app.db import database
from app.db_bulk import bulk_insert, roomy_write_cache
from app.models import Branch, Customer, CustomerChange, Holding, Product, Territory
from app.models.customer import CATEGORIES, CREDIT_RATINGS, compute_tier
from app.models.importing import FIELD_TYPES, REQUIRED, ImportJob, base_field, max_length
from app.models.territory import bank_of, placer_for
from app.models.tier import TierRule
from app.spreadsheet import Table, Unreadable, cell_text, is_damaged_number

CHUNK = 1000
SHOWN = {"refused": 200, "updated": 100, "new": 30, "unplaced": 200, "missing": 200, "tiers": 100}
KEEP_DAYS = 2  # uploaded files (they hold ID numbers in clear) are deleted after this

# Why a row is refused or noted. English msgids, rendered in the reader's language later.
R = {
    "name": _l("The name is missing."),
    "totals": _l("A totals row (合计), not a customer."),
    "too_long": _l("%(field)s is longer than %(n)s characters."),
    "id_damaged": _l("The ID number was turned into a number by Excel (%(value)s): its last digits are "
                     "lost. Export the column again as text."),
    "phone_damaged": _l("The phone number was turned into a number by Excel (%(value)s): export the "
                        "column again as text."),
    "number": _l("%(field)s: enter a number, e.g. 12.5 (the file has “%(value)s”)."),
    "whole": _l("%(field)s: enter a whole number (the file has “%(value)s”)."),
    "negative": _l("%(field)s cannot be negative."),
    "kind": _l("Unknown kind “%(value)s”: use 农户, 商户 or 企业."),
    "category": _l("Unknown business category “%(value)s”: use 种植, 养殖, 个体经营, 务工, 企业 or 其他."),
    "rating": _l("Unknown credit rating “%(value)s”: use AAA, AA, A, B or C."),
    "coordinate": _l("%(field)s “%(value)s” is not a coordinate in China."),
    "repeat": _l("Repeats row %(row)s (same person)."),
    "same_customer": _l("Matches the same archive as row %(row)s."),
    "id_conflict": _l("Phone and name match archive %(name)s, whose ID number is different."),
    "core_no_taken": _l("Customer number %(value)s already belongs to archive %(name)s."),
    "core_missing": _l("The customer number is missing."),
    "not_in_archive": _l("Customer number %(value)s is not in the archive."),
    "unknown_products": _l("Not in the bank's catalogue, ignored: %(names)s."),
    "no_territory": _l("No territory is named %(place)s: listed for a team lead to place."),
    "no_place": _l("No village, group or street given: listed for a team lead to place."),
    "ambiguous": _l("Several territories are named %(place)s: listed for a team lead to place."),
}
# Problems with the whole file: any of them and nothing can be written.
F = {
    "merged": _l("The header row has merged cells (%(ranges)s): unmerge them so that every column has "
                 "its own title on one row, then upload again."),
    "id_damaged": _l("%(n)s ID numbers (first in row %(row)s) were turned into numbers by Excel, like "
                     "5.2E+17: the digits after the 15th are lost and cannot be recovered. Format the "
                     "column as text in the source system and export it again."),
    "required": _l("Map a column to “%(field)s”: it is required."),
    "twice": _l("“%(field)s” is mapped to two columns."),
    "interrupted": _l("The check stopped before the end (the server restarted?): check the file again."),
    "failed": _l("Something went wrong while reading the file; nothing was written."),
    "gone": _l("The uploaded file was deleted after %(days)s days: upload it again."),
}

KIND_WORDS = {"农户": "household", "个人": "household", "家庭": "household", "household": "household",
              "商户": "merchant", "个体工商户": "merchant", "个体户": "merchant", "merchant": "merchant",
              "企业": "enterprise", "公司": "enterprise", "enterprise": "enterprise"}
CATEGORY_WORDS = {"种植": "planting", "种植业": "planting", "养殖": "breeding", "养殖业": "breeding",
                  "个体经营": "trade", "经商": "trade", "商贸": "trade", "务工": "labour", "外出务工": "labour",
                  "企业": "enterprise", "其他": "other", "其它": "other"}
CATEGORY_WORDS.update({c: c for c in CATEGORIES})
PRODUCT_SPLIT = re.compile(r"[、,，;；/|\s]+")
PHONE_NOISE = re.compile(r"[\s-]")
COMPARED = ("name", "phone", "kind", "township", "village", "group_name", "street", "house_no", "category",
            "scale_mu", "livestock_head", "annual_turnover_wan", "assets_wan", "debts_wan", "net_income_wan",
            "deposit_balance_wan", "loan_balance_wan", "credit_rating", "products_elsewhere", "core_no")


def msgid(text):
    """The English msgid of a lazy string, so stored reasons render in any language."""
    args = getattr(text, "_args", None)
    return args[0] if args else str(text)


def reason(code, table=R, **params):
    return [msgid(table[code]), {k: str(v) for k, v in params.items()}]


def render(stored):
    """A stored [msgid, params] in the current language."""
    from flask_babel import gettext

    text, params = stored
    return gettext(text, **params) if params else gettext(text)


def field_rules():
    """The archive form's own messages, reused so a file row and the form refuse alike."""
    from wtforms.validators import DataRequired, Regexp

    from app.customer_forms import MESSAGES, NOT_NEGATIVE, CustomerForm

    phone = next(v for v in CustomerForm.phone.kwargs["validators"] if isinstance(v, Regexp))
    name = next(v for v in CustomerForm.name.kwargs["validators"] if isinstance(v, DataRequired))
    # today once per run: asking the clock for each of 100,000 ID numbers' birth dates costs more
    # than checking them.
    return SimpleNamespace(lookup_key=crypto.lookup_key(), phone_pattern=phone.regex, today=clock.today(),
                           phone=msgid(phone.message), name=msgid(name.message),
                           negative=msgid(NOT_NEGATIVE), id_messages={k: msgid(v) for k, v in MESSAGES.items()})


# --- One row ----------------------------------------------------------------------------------
class Row:
    __slots__ = ("number", "raw", "values", "reasons", "notes", "outcome", "customer", "changes",
                 "territory_id", "key", "products", "unknown_products", "id_number", "id_hash", "parsed", "tier")

    def __init__(self, number, raw):
        self.number, self.raw = number, raw
        self.values, self.reasons, self.notes, self.changes = {}, [], [], []
        self.outcome = self.customer = self.territory_id = self.key = None
        self.products = self.unknown_products = None
        self.id_number = self.id_hash = None
        self.parsed = False
        self.tier = None  # (tier, rule) after the row is written, when it changes


def _number(text):
    return float(text.replace(",", "").replace("，", "").replace("万元", "").replace("元", "").strip())


def parse_row(row, mapping, kind, rules, labels):
    """Each mapped cell parsed and checked; the row's reasons filled in."""
    types = FIELD_TYPES[kind]
    for index, name in mapping.items():
        raw = row.raw[index] if index < len(row.raw) else None
        text = cell_text(raw)
        kind_of = types[name]
        label = labels[name]
        if kind_of in ("id", "phone") and text and is_damaged_number(raw if not isinstance(raw, str) else text):
            row.reasons.append(reason("id_damaged" if kind_of == "id" else "phone_damaged",
                                      value=_scientific(raw)))
            if kind_of == "id":
                row.values["_id_damaged"] = True
            continue
        if not text:
            continue
        if kind_of == "name":
            if text in ("合计", "总计", "小计", "合 计"):
                row.reasons.append(reason("totals"))
                row.values["_totals"] = True
        if kind_of in ("name", "text", "core_no"):
            limit = _limit(name)
            if limit and len(text) > limit:
                row.reasons.append(reason("too_long", field=label, n=limit))
            else:
                row.values[name] = text
        elif kind_of == "id":
            try:
                row.id_number = crypto.validate_id_number(text, rules.today)
                row.id_hash = crypto.hash_id(row.id_number, rules.lookup_key)
            except crypto.InvalidIdNumber as refused:
                row.reasons.append([rules.id_messages[str(refused)], {}])
        elif kind_of == "phone":
            phone = PHONE_NOISE.sub("", text)
            if phone.startswith("+86"):
                phone = phone[3:]
            if rules.phone_pattern.match(phone):
                row.values["phone"] = phone
            else:
                row.reasons.append([rules.phone, {}])
        elif kind_of in ("amount", "number", "yuan", "lat", "lng"):
            try:
                value = _number(text) if not isinstance(raw, (int, float)) else float(raw)
            except ValueError:
                row.reasons.append(reason("number", field=label, value=text))
                continue
            if kind_of in ("amount", "yuan") and value < 0:
                row.reasons.append([rules.negative, {}] if kind_of == "amount" else reason("negative", field=label))
                continue
            if kind_of == "lat" and not 3 <= value <= 54 or kind_of == "lng" and not 73 <= value <= 136:
                row.reasons.append(reason("coordinate", field=label, value=text))
                continue
            row.values[base_field(name)] = round(value / 10000, 4) if kind_of == "yuan" else value
        elif kind_of == "whole":
            try:
                value = float(text.replace(",", ""))
                if not value.is_integer():
                    raise ValueError
            except ValueError:
                row.reasons.append(reason("whole", field=label, value=text))
                continue
            if value < 0:
                row.reasons.append([rules.negative, {}])
                continue
            row.values[name] = int(value)
        elif kind_of == "kind":
            if text not in KIND_WORDS:
                row.reasons.append(reason("kind", value=text))
            else:
                row.values["kind"] = KIND_WORDS[text]
        elif kind_of == "category":
            if text not in CATEGORY_WORDS:
                row.reasons.append(reason("category", value=text))
            else:
                row.values["category"] = CATEGORY_WORDS[text]
        elif kind_of == "rating":
            rating = text.upper().replace("级", "")
            if rating not in CREDIT_RATINGS:
                row.reasons.append(reason("rating", value=text))
            else:
                row.values["credit_rating"] = rating
        elif kind_of == "products":
            row.products = [p for p in PRODUCT_SPLIT.split(text) if p]
    if kind == "archive" and not row.values.get("name") and not row.values.get("_totals"):
        if not any(r[0] == msgid(R["too_long"]) for r in row.reasons):
            row.reasons.append([rules.name, {}])
    if kind == "core" and not row.values.get("core_no"):
        row.reasons.append(reason("core_missing"))


@functools.cache
def _limit(name):
    return max_length(name)


def _scientific(raw):
    if isinstance(raw, float):
        return f"{raw:.6G}".replace("E+", "E+")
    return str(raw).strip()


# --- Placement by name ------------------------------------------------------------------------
def _norm(name):
    return re.sub(r"\s+", "", name or "")


SUFFIXES = ("村委会", "居委会", "社区", "街道", "村", "组")


@functools.lru_cache(maxsize=4096)
def _variants(name):
    name = _norm(name)
    out = {name}
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            out.add(name[:-len(suffix)])
    return out


class NamePlacer:
    """Places a row by its 村 / 组 / street in the bank's live territory tree."""

    def __init__(self, branch):
        bank = bank_of(branch)
        rows = (Territory.select(Territory.id, Territory.name, Territory.kind, Territory.path, Branch.path)
                .join(Branch).where(Branch.path.startswith(bank.path), Territory.retired_on.is_null())
                .tuples())
        self.branch_path = branch.path
        self.cache = {}
        self.by_name = defaultdict(list)
        self.names = {}  # territory id → name, for the preview
        self.groups_under = defaultdict(list)  # territory id → the groups anywhere below it
        for tid, name, kind, path, branch_path in rows:
            t = SimpleNamespace(id=tid, name=_norm(name), kind=kind, path=path,
                                ours=branch_path.startswith(branch.path))
            self.names[tid] = name
            if kind == "group":
                for ancestor in path.strip("/").split("/")[:-1]:
                    self.groups_under[int(ancestor)].append(t)
            for variant in _variants(name):
                self.by_name[variant].append(t)

    def _one(self, name, kinds):
        found = {t.id: t for v in _variants(name) for t in self.by_name.get(v, []) if t.kind in kinds}
        found = list(found.values())
        ours = [t for t in found if t.ours]
        found = ours or found
        if len(found) > 1:
            exact = [t for t in found if t.name == _norm(name)]
            found = exact if len(exact) == 1 else found
        return found

    def place(self, village, group, street):
        """(territory id or None, reason or None), the same for every row naming the same place.

        A file names a few thousand places over 100,000 rows: each is worked out once.
        """
        key = (village, group, street)
        if key not in self.cache:
            self.cache[key] = self._place(village, group, street)
        return self.cache[key]

    def _place(self, village, group, street):
        if village:
            found = self._one(village, ("village", "street", "zone", "market"))
            if not found and group:
                found = self._one(village + group, ("group",))
                if len(found) == 1:
                    return found[0].id, None
            if len(found) > 1:
                return None, reason("ambiguous", place=village)
            if not found:
                return None, reason("no_territory", place=" ".join(p for p in (village, group) if p))
            v = found[0]
            if group:
                g = _norm(group)
                inside = [t for t in self.groups_under.get(v.id, ()) if
                          (t.name == g or t.name == v.name + g or t.name.endswith(g)
                           or any(t.name == x + g for x in _variants(v.name)))]
                if len(inside) == 1:
                    return inside[0].id, None
            return v.id, None
        if group:
            found = self._one(group, ("group",))
            if len(found) == 1:
                return found[0].id, None
            return None, reason("ambiguous" if found else "no_territory", place=group)
        if street:
            found = self._one(street, ("street", "market", "village"))
            if len(found) == 1:
                return found[0].id, None
            return None, reason("ambiguous" if found else "no_territory", place=street)
        return None, reason("no_place")


# --- The run ----------------------------------------------------------------------------------
def upload_dir():
    folder = Path(current_app.config.get("IMPORT_DIR") or Path(current_app.instance_path) / "imports" / "customers")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def job_file(job, suffix=""):
    return upload_dir() / f"{job.token}{suffix}"


def clean_old_files(days=KEEP_DAYS):
    """Delete uploads and refused-row files older than days: they hold ID numbers in clear."""
    limit = clock.now().timestamp() - days * 86400
    removed = 0
    for path in upload_dir().iterdir():
        if path.is_file() and path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


# In-process progress of the write, whose transaction hides the job row's own updates.
PROGRESS = {}
THREADS = {}


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
    from app.models.importing import field_label

    return msgid(field_label(name))


def run(job, write=False, user=None, progress=None):
    """Check (or write) the job's file; returns the counts. Updates the job row as it goes."""
    from app.models.importing import field_label

    path = job_file(job)
    if not path.exists():
        _finish(job, "failed", problems=[reason("gone", F, days=KEEP_DAYS)])
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
        if write:
            rows = _parsed_rows(parsed) if parsed.exists() else _table_rows(table)
            roomy_write_cache()  # this connection is the import thread's own
            with database.atomic():
                _stream(rows, table, state, progress)
        else:
            with open(parsed, "w", encoding="utf-8") as out:
                state.parsed_out = out
                _stream(_table_rows(table), table, state, progress)
    except Unreadable as error:
        _finish(job, "failed", problems=problems + [[error.problem.message, error.problem.params]])
        return {}
    finally:
        table.close()
        PROGRESS.pop(job.id, None)
    if state.damaged_ids:
        problems.append(reason("id_damaged", F, n=state.damaged_ids, row=state.first_damaged))
    state.save_refused()
    if write:
        job_file(job, ".parsed.jsonl").unlink(missing_ok=True)  # it holds ID numbers in clear
    _finish(job, "done" if write else "checked", counts=state.counts, problems=problems,
            preview=state.preview, total=state.rows_seen)
    return state.counts


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
        chunk.append(row)
        if len(chunk) >= CHUNK:
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
    if state.write:
        PROGRESS[job.id] = (state.rows_seen, total)
    else:
        ImportJob.update(processed_rows=state.rows_seen, total_rows=total, updated_at=clock.now()).where(
            ImportJob.id == job.id).execute()


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
        self.catalogue = ({_norm(p.name): p.id for p in Product.select().where(Product.bank == self.bank.id)}
                          if self.kind == "core" else {})
        self.catalogue_names = {v: k for k, v in self.catalogue.items()}
        self.counts = defaultdict(int)
        self.preview = defaultdict(list)
        self.keys = {}      # a person's key in the file → first row number
        self.matched = {}   # customer id → first row number
        self.refused_path = job_file(job, ".refused.jsonl")
        self.refused_file = open(self.refused_path, "w", encoding="utf-8")
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
                    found.by_phone_name.setdefault((c.phone, _norm(c.name)), c)
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
                row.key = ("phone", v["phone"], _norm(v["name"]))
            else:
                row.key = ("name", _norm(v["name"]), v.get("village"), v.get("group_name"), v.get("house_no"))
            if row.key in self.keys:
                row.reasons.append(reason("repeat", row=self.keys[row.key]))
                continue
            self.keys[row.key] = row.number
            customer = found.by_hash.get(row.id_hash) if row.id_hash else None
            if customer is None and v.get("phone"):
                customer = found.by_phone_name.get((v["phone"], _norm(v["name"])))
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
                wanted = {self.catalogue[_norm(p)] for p in row.products if _norm(p) in self.catalogue}
                unknown = [p for p in row.products if _norm(p) not in self.catalogue]
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


# --- Background runs --------------------------------------------------------------------------
def start(job, write=False, user=None):
    """Run the check (or the write) in a thread of this process; the job row carries its state."""
    app = current_app._get_current_object()
    user_id = user.id if user else None
    thread = threading.Thread(target=_in_thread, args=(app, job.id, write, user_id), daemon=True,
                              name=f"import-{job.id}")
    THREADS[job.id] = thread
    thread.start()
    return thread


def _in_thread(app, job_id, write, user_id):
    from app.models import User

    with app.app_context(), database.connection_context():
        job = ImportJob.get_by_id(job_id)
        try:
            run(job, write=write, user=User.get_or_none(User.id == user_id) if user_id else None)
        except Exception:
            app.logger.exception("import %s failed", job_id)
            job = ImportJob.get_by_id(job_id)
            _finish(job, "failed" if not write else "checked",
                    problems=job.data("problems") + [reason("failed", F)])


def wait(job_id, timeout=120):
    """Block until the job's thread ends (the command and the tests use it)."""
    thread = THREADS.get(job_id)
    if thread is not None:
        thread.join(timeout)
        THREADS.pop(job_id, None)


def interrupted(job):
    """A running job whose thread is gone and whose row has not moved for ten minutes."""
    alive = THREADS.get(job.id)
    if alive is not None and alive.is_alive():
        return False
    # A write's own transaction hides its progress from the row, and a second write started
    # while another process still writes would read the archive without its rows: wait longer.
    quiet = dt.timedelta(minutes=10 if job.status == "checking" else 60)
    return job.running and clock.now() - job.updated_at > quiet
