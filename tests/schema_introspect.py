"""Read a live database's structure back into plain data, the same shape for both engines."""
import re

from peewee import SqliteDatabase


def _norm(sql):
    """Fold quoting, case and spacing so equal definitions compare equal."""
    return re.sub(r"\s+", " ", (sql or "").replace('"', "")).strip().lower()


def _predicate(sql):
    """A partial index's WHERE, folded as _norm and without parentheses (engines add their own)."""
    return _norm(re.sub(r"[()]", "", sql))


def _checks_in(create_sql):
    """CHECK (...) bodies in a CREATE TABLE statement, with balanced parentheses."""
    found, i = [], 0
    while (i := create_sql.upper().find("CHECK", i)) != -1:
        start = create_sql.index("(", i)
        depth, j = 0, start
        while True:
            depth += {"(": 1, ")": -1}.get(create_sql[j], 0)
            if depth == 0:
                break
            j += 1
        found.append(_norm(create_sql[start + 1:j]))
        i = j
    return sorted(found)


def introspect(db, schema="public"):
    if isinstance(db, SqliteDatabase):
        return _sqlite(db)
    return _postgres(db, schema)


def _sqlite(db):
    result = {}
    tables = [r[0] for r in db.execute_sql(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    for table in tables:
        columns = {row[1]: {"type": row[2].upper(), "not_null": bool(row[3]),
                            "default": _norm(row[4]), "pk": bool(row[5])}
                   for row in db.execute_sql(f'PRAGMA table_info("{table}")')}
        fks = sorted((row[3], row[2], row[4], row[6].upper())
                     for row in db.execute_sql(f'PRAGMA foreign_key_list("{table}")'))
        indexes = {}
        for row in db.execute_sql(f'PRAGMA index_list("{table}")'):
            name, unique, origin = row[1], bool(row[2]), row[3]
            if origin == "pk":
                continue
            cols = tuple(r[2] for r in db.execute_sql(f'PRAGMA index_info("{name}")'))
            indexes[name] = {"columns": cols, "unique": unique}
            if row[4]:  # a partial index: its predicate too
                sql = db.execute_sql("SELECT sql FROM sqlite_master WHERE type='index' AND name=?",
                                     (name,)).fetchone()[0]
                indexes[name]["where"] = _predicate(re.split(r"\bWHERE\b", sql, maxsplit=1, flags=re.I)[1])
        create_sql = db.execute_sql(
            "SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()[0]
        result[table] = {"columns": columns, "foreign_keys": fks, "indexes": indexes,
                         "checks": _checks_in(create_sql)}
    return result


PG_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def _postgres(db, schema):
    result = {}
    tables = [r[0] for r in db.execute_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema=%s "
        "AND table_type='BASE TABLE' ORDER BY table_name", (schema,))]
    for table in tables:
        pk_cols = {r[0] for r in db.execute_sql(
            "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid=i.indrelid "
            "JOIN pg_namespace n ON n.oid=c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid=c.oid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indisprimary AND c.relname=%s AND n.nspname=%s", (table, schema))}
        columns = {}
        for name, dtype, nullable, dflt in db.execute_sql(
                "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                "WHERE table_schema=%s AND table_name=%s", (table_schema := schema, table)):
            dflt = re.sub(r"nextval\('[^']*'::regclass\)", "nextval", dflt or "")
            columns[name] = {"type": dtype.upper(), "not_null": nullable == "NO",
                             "default": _norm(dflt), "pk": name in pk_cols}
        cons = list(db.execute_sql(
            "SELECT con.contype, pg_get_constraintdef(con.oid), con.confdeltype, "
            "  (SELECT array_agg(a.attname ORDER BY a.attnum) FROM pg_attribute a "
            "   WHERE a.attrelid=con.conrelid AND a.attnum = ANY(con.conkey)), "
            "  (SELECT relname FROM pg_class WHERE oid=con.confrelid), "
            "  (SELECT array_agg(a.attname) FROM pg_attribute a "
            "   WHERE a.attrelid=con.confrelid AND a.attnum = ANY(con.confkey)) "
            "FROM pg_constraint con JOIN pg_class c ON c.oid=con.conrelid "
            "JOIN pg_namespace n ON n.oid=c.relnamespace WHERE c.relname=%s AND n.nspname=%s",
            (table, table_schema)))
        fks = sorted((cols[0], ref_table, ref_cols[0], PG_DELETE[deltype])
                     for kind, _, deltype, cols, ref_table, ref_cols in cons if kind == "f")
        checks = sorted(_norm(definition) for kind, definition, *_ in cons if kind == "c")
        indexes = {}
        for name, unique, cols, where in db.execute_sql(
                "SELECT ic.relname, i.indisunique, "
                "  array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord) "
                "        JOIN pg_attribute a ON a.attrelid=i.indrelid AND a.attnum=k.attnum ORDER BY k.ord), "
                "  pg_get_expr(i.indpred, i.indrelid) "
                "FROM pg_index i JOIN pg_class c ON c.oid=i.indrelid JOIN pg_class ic ON ic.oid=i.indexrelid "
                "JOIN pg_namespace n ON n.oid=c.relnamespace "
                "WHERE c.relname=%s AND n.nspname=%s AND NOT i.indisprimary", (table, table_schema)):
            indexes[name] = {"columns": tuple(cols), "unique": unique}
            if where:
                indexes[name]["where"] = _predicate(where)
        result[table] = {"columns": columns, "foreign_keys": fks, "indexes": indexes, "checks": checks}
    return result


def differences(a, b):
    """Human-readable differences between two introspections (empty when they agree)."""
    out = []
    for table in sorted(set(a) | set(b)):
        if table not in a or table not in b:
            out.append(f"table {table} only in {'schema.sql' if table in a else 'models'}")
            continue
        for part in ("columns", "foreign_keys", "indexes", "checks"):
            x, y = a[table][part], b[table][part]
            if x != y:
                if isinstance(x, dict):
                    for key in sorted(set(x) | set(y)):
                        if x.get(key) != y.get(key):
                            out.append(f"{table}.{part}.{key}: schema.sql={x.get(key)} models={y.get(key)}")
                else:
                    out.append(f"{table}.{part}: schema.sql={x} models={y}")
    return out
