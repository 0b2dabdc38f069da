"""The organisation: branches (a tree whose root is a bank or a provincial union) and users."""
import datetime as dt
import functools
import re

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from peewee import (BooleanField, Case, DateField, DateTimeField, ForeignKeyField, IntegerField, IntegrityError,
                    TextField, fn)
from werkzeug.security import check_password_hash, generate_password_hash

from app import clock
from app.db import database
from app.models.base import BaseModel, created_at_field, default, one_of
from app.models.refused import Problems, Refused

BRANCH_KINDS = ("union", "bank", "branch", "outlet")
ROLES = ("manager", "team_lead", "management", "admin")
BUSINESS_LINES = ("retail", "micro", "agri", "corporate")
MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
# A branch's code ties imports, reports and the command line to it: short, plain, never changed.
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,20}$")
MAX_NAME = 40


class Branch(BaseModel):
    parent = ForeignKeyField("self", null=True, backref="children", on_delete="RESTRICT")
    kind = TextField(constraints=[one_of("kind", BRANCH_KINDS)])
    name = TextField()
    code = TextField(unique=True)
    # Materialised path '/1/4/9/': a scope is a prefix match, one indexed query.
    path = TextField(default="", index=True)
    closed_on = DateField(null=True)
    created_at = created_at_field()

    @classmethod
    def add(cls, name, code, kind, parent=None):
        """Create a branch under parent and fill in its path."""
        branch = cls.create(name=name, code=code, kind=kind, parent=parent)
        branch.path = f"{parent.path if parent else '/'}{branch.id}/"
        branch.save(only=[cls.path])
        return branch

    @classmethod
    def open_root(cls, kind, code, name, union_code=None):
        """Open a bank (alone, or under the provincial union named by union_code) or a union:
        the root of a new tree, before any user exists (`flask create-bank`, `create-union`).

        Refused, with nothing written: a code that is empty, malformed or taken (in any
        letter case), an empty or too long name, a union code that names no union.
        """
        code, name = (code or "").strip(), (name or "").strip()
        problems = Problems()
        if kind not in ("bank", "union"):
            raise ValueError(kind)
        if not CODE_PATTERN.match(code):
            problems.add("code", _l("A code is 1 to 20 letters, digits, dots, dashes or underscores."))
        elif cls.select().where(fn.LOWER(cls.code) == code.lower()).exists():
            problems.add("code", _l("The code %(code)s is taken.", code=code), code="taken")
        if not name:
            problems.add("name", _l("Enter the bank's name."))
        elif len(name) > MAX_NAME:
            problems.add("name", _l("At most %(max)d characters.", max=MAX_NAME))
        parent = None
        if union_code is not None:
            if kind != "bank":
                problems.add("union", _l("Only a bank sits under a provincial union."))
            else:
                parent = cls.get_or_none(fn.LOWER(cls.code) == union_code.strip().lower())
                if parent is None or parent.kind != "union":
                    # A bank under another bank or a branch would leak its data upwards.
                    problems.add("union", _l("%(code)s is not a provincial union.", code=union_code))
                elif parent.closed_on is not None:
                    problems.add("union", _l("The provincial union %(code)s is closed.", code=union_code))
        problems.check()
        try:
            with database.obj.atomic():
                return cls.add(name, code, kind, parent)
        except IntegrityError:  # the same code, opened a moment ago by another command
            raise Refused({"code": _l("The code %(code)s is taken.", code=code)}, code="taken") from None

    def subtree(self):
        """This branch and every branch below it."""
        return Branch.select().where(Branch.path.startswith(self.path))

    def ancestors_path_ids(self):
        return [int(p) for p in self.path.strip("/").split("/") if p]

    @property
    def bank(self):
        """The bank this branch belongs to (itself for a bank; None above banks)."""
        if self.kind == "bank":
            return self
        if self.kind == "union":
            return None
        ids = self.ancestors_path_ids()
        return Branch.get_or_none(Branch.id.in_(ids), Branch.kind == "bank")


def _configured(method):
    from flask import current_app, has_app_context

    if method is None and has_app_context():
        method = current_app.config.get("PASSWORD_HASH_METHOD")
    return method or "scrypt"


@functools.cache
def _full_method(method):
    """The method as a stored hash names it ("scrypt" is stored as "scrypt:32768:8:1"):
    werkzeug fills in the defaults, so ask it, once a process."""
    return generate_password_hash("", method=method).split("$", 1)[0]


class User(BaseModel, UserMixin):
    username = TextField(unique=True)
    password_hash = TextField()
    name = TextField()
    phone = TextField(null=True)
    role = TextField(constraints=[one_of("role", ROLES)])
    branch = ForeignKeyField(Branch, backref="users", on_delete="RESTRICT")
    business_line = TextField(null=True, constraints=[one_of("business_line", BUSINESS_LINES)])
    locale = TextField(default="zh_CN", constraints=[default("'zh_CN'")])
    active = BooleanField(default=True, constraints=[default("TRUE")])
    must_change_password = BooleanField(default=False, constraints=[default("FALSE")])
    failed_logins = IntegerField(default=0, constraints=[default("0")])
    locked_until = DateTimeField(null=True)
    last_login_at = DateTimeField(null=True)
    # Kept in every session cookie at sign-in and checked on each request: raising it ends
    # every session made before (sign-out, a password change, deactivation, an admin reset).
    session_generation = IntegerField(default=0, constraints=[default("0")])
    created_at = created_at_field()

    class Meta:
        indexes = ((("branch", "role"), False),)

    @classmethod
    def _unlocked(cls, now):
        return cls.locked_until.is_null() | (cls.locked_until <= now)

    def count_failed_sign_in(self, now=None):
        """Count a wrong password in one statement, so parallel guesses each count; the
        MAX_FAILED_LOGINS-th in a row locks the account for LOCKOUT. Returns the lock's end
        when this very call locked it (exactly one call does), else None."""
        now = now or clock.now()
        until = now + LOCKOUT
        locks = (User.failed_logins + 1) >= MAX_FAILED_LOGINS
        rows = list(User.update(
            failed_logins=Case(None, [(locks, 0)], User.failed_logins + 1),
            locked_until=Case(None, [(locks, User.locked_until.db_value(until))], User.locked_until),
        ).where((User.id == self.id) & User.active & User._unlocked(now))
            .returning(User.failed_logins, User.locked_until).tuples().execute())
        if not rows or rows[0][1] is None:
            return None
        # Only rows not locked were counted, so a lock in the answer is this call's own.
        return until

    def record_sign_in(self, now=None):
        """Note a right password: the count starts again. False if the account was locked
        (or deactivated) meanwhile by a parallel request, which then wins."""
        now = now or clock.now()
        rows = list(User.update(failed_logins=0, locked_until=None, last_login_at=now)
                    .where((User.id == self.id) & User.active & User._unlocked(now))
                    .returning(User.session_generation).tuples().execute())
        if not rows:
            return False
        self.failed_logins, self.locked_until, self.last_login_at = 0, None, now
        self.session_generation = rows[0][0]
        return True

    @classmethod
    def end_sessions(cls, user_id, **changes):
        """Raise the user's session generation (with any other changes, in one statement):
        every session made before is over. Returns the new generation."""
        rows = list(cls.update(session_generation=cls.session_generation + 1, **changes)
                    .where(cls.id == user_id).returning(cls.session_generation).tuples().execute())
        return rows[0][0] if rows else None

    # Flask-Login reads these.
    @property
    def is_active(self):
        return self.active

    def get_id(self):
        return str(self.id)

    def set_password(self, password, method=None):
        self.password_hash = generate_password_hash(password, method=_configured(method))

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)

    def rehash_password(self, password, method=None):
        """After the right password: store it again when it was hashed under another method
        than the configured one (an older default, weaker parameters), which only the password
        itself can do. The same password, so every session goes on. True if rewritten."""
        if self.password_hash.split("$", 1)[0] == _full_method(_configured(method)):
            return False
        old = self.password_hash
        self.set_password(password, method)
        # Unless the password was changed meanwhile: that one stands.
        return bool(User.update(password_hash=self.password_hash)
                    .where((User.id == self.id) & (User.password_hash == old)).execute())

    def is_locked(self):
        return self.locked_until is not None and self.locked_until > clock.now()

    @property
    def scope_root(self):
        """The branch whose subtree this user's scope is."""
        return self.branch
