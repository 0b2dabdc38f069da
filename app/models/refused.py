"""The one way a write path says no: `Refused`, carrying every reason at once.

Every action of the models (a check-in, a lead's capture and moves, an archive's
creation, edit, merge and members) is one function that takes typed values, checks
scope and every rule, writes in one transaction, and raises one `Refused` listing
all the problems it found before writing anything. Views parse the request, call the
function and render what it raises:

    errors   {field: reason} for the form's fields (Chinese through Flask-Babel lazy strings)
    message  a general reason not tied to one field (else the first field's reason)
    code     what kind of refusal, for the view to answer with the right status:
             "not_found" (outside the user's scope: 404, saying nothing more),
             "forbidden" (may see but not do this: 403), "conflict" (a duplicate:
             409 with `choices` to pick from); otherwise the rule first broken
             ("outcome", "stale_fix", …), answered with a 4xx and the reasons
    choices  for a conflict, the records the user picks from ({"customers": [...], ...})

This module sits at the bottom of the models: it imports none of them.
"""

NOT_FOUND, FORBIDDEN, CONFLICT = "not_found", "forbidden", "conflict"


class Refused(ValueError):
    """An action that was not done, with every reason why; nothing was written."""

    def __init__(self, errors=None, message=None, code=None, choices=None):
        self.errors = dict(errors or {})
        self.general = message
        self.code = code or next(iter(self.errors), None) or "invalid"
        self.choices = choices or {}
        super().__init__(self.code)

    @property
    def message(self):
        """The general reason, else the first field's: what a one-line answer shows."""
        if self.general is not None:
            return self.general
        return next(iter(self.errors.values()), "")

    @property
    def messages(self):
        """Every reason, the general one first: what a page without per-field places lists."""
        reasons = [] if self.general is None else [self.general]
        return reasons + [m for m in self.errors.values() if m is not self.general]

    @classmethod
    def not_found(cls, message=None):
        """Outside the user's scope: the view answers 404 and says nothing more."""
        return cls(message=message, code=NOT_FOUND)

    @classmethod
    def forbidden(cls):
        """The user may see this but not do it: the view answers 403."""
        return cls(code=FORBIDDEN)

    @classmethod
    def conflict(cls, message=None, errors=None, **choices):
        """Duplicates found: the view answers 409 and offers the choices."""
        return cls(errors, message=message, code=CONFLICT, choices=choices)


class Problems:
    """The reasons one action collects while checking independent rules.

    add() keeps the first reason per field and the code of the first rule broken;
    check() raises them as one Refused when there is any.
    """

    def __init__(self):
        self.errors = {}
        self.code = None

    def add(self, field, message, code=None):
        self.errors.setdefault(field, message)
        if self.code is None:
            self.code = code or field

    def __bool__(self):
        return bool(self.errors)

    def __contains__(self, field):
        return field in self.errors

    def check(self):
        if self.errors:
            raise Refused(self.errors, code=self.code)
