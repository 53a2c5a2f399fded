#!/usr/bin/env python3
"""The baseline `scripts/bench-cli` compares `plan` with: the same plan in plain Python.

Usage: plan_baseline.py TEMPLATE.csv RECORDS.json TENANT > report.json

Standard library only (csv, json, dicts as indexes), written as a person would write it
without tuning, so that the comparison says what the Rust implementation buys. It follows the
rules of docs/validation.md and docs/matching.md (validation, duplicates in the template,
matching by Coupa User ID, Coupa Username and email, blank-never-overwrites, SSO-synced
highlights, linking, username and record-name collisions) and prints the report's counts and
its three sections in the shape of `plan --output json`. It reads a UTF-8 template and a JSON
records file only (what the bench generates); the Rust command reads more.
"""

import csv
import json
import sys

# TenantUser field name -> accepted headers (crates/user-import-engine/src/fields.rs), in TenantUser order.
ALIASES = {
    "username": ["Username", "User Name", "Login"],
    "firstName": ["First Name", "Firstname"],
    "middleName": ["Middle Name"],
    "lastName": ["Last Name", "Lastname"],
    "email": ["Email", "Email Address", "E-mail"],
    "status": ["Status"],
    "coupaUsername": ["Coupa Username", "Coupa User Name", "SSOUsername", "SSO Username"],
    "coupaUserId": ["Coupa User ID", "Coupa UserId"],
    "prefix": ["Prefix"],
    "title": ["Title", "Job Title"],
    "culture": ["Culture", "Language"],
    "businessPhone": ["Business Phone", "Business", "Work Phone"],
    "businessExt": ["Business Ext", "Business Extension"],
    "mobile": ["Mobile", "Mobile Phone"],
    "home": ["Home", "Home Phone"],
    "fax": ["Fax"],
    "mailingAddress": ["Mailing Address", "Address"],
    "city": ["City"],
    "stateProvince": ["State/Province", "State", "Province"],
    "postalCode": ["Postal Code", "Zip", "Zip Code"],
    "country": ["Country", "County"],
}
FIELDS = list(ALIASES)
HEADER = {name: aliases[0] for name, aliases in ALIASES.items()}
MANDATORY = ["firstName", "lastName", "email", "coupaUsername", "coupaUserId"]
NON_EDITABLE = {"username", "firstName", "lastName", "email", "status", "coupaUsername",
                "businessExt", "mobile", "home", "fax", "mailingAddress", "city",
                "stateProvince", "postalCode", "country"}
IGNORES_CASE = {"username", "email", "coupaUsername", "status"}
STATUSES = {"active": "Active", "inactive": "Inactive", "deleted": "Deleted"}
REASONS = ["MissingMandatoryField", "InvalidEmail", "InvalidCoupaUserId", "InvalidStatus",
           "DuplicateInTemplate", "Mismatch"]


def normalise(header):
    return "".join(c for c in header if not c.isspace() and c not in "_-./").lower()


FIELD_OF_HEADER = {normalise(a): name for name, aliases in ALIASES.items() for a in aliases}


def fold(value):
    return value.strip().lower()


def stored(spec, field):
    """A stored value; blank counts as none."""
    value = spec.get(field)
    if isinstance(value, str) and value.strip():
        return value
    return None


def valid_email(email):
    if any(c.isspace() or not c.isprintable() for c in email) or email.count("@") != 1:
        return False
    local, domain = email.split("@")
    labels = domain.split(".")
    return bool(local) and len(labels) >= 2 and all(labels)


def dns_name(text):
    mapped = "".join(c if c.isascii() and (c.isalnum() or c == ".") else "-" for c in text.lower())
    name = mapped.strip("-.")[:253].rstrip("-.")
    return name or "user"


def row_list(numbers):
    shown = ", ".join(str(n) for n in numbers[:5])
    return f"{shown} and {len(numbers) - 5} more" if len(numbers) > 5 else shown


class Problems:
    def __init__(self):
        self.reasons, self.fields, self.messages = set(), set(), []

    def add(self, reason, fields, message):
        self.reasons.add(reason)
        self.fields.update(fields)
        self.messages.append(message)


def read_template(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        text = f.read()
    first = text.split("\n", 1)[0]
    delimiter = max([",", ";", "\t"], key=first.count)
    lines = csv.reader(text.splitlines(keepends=True), delimiter=delimiter)
    header = [h.strip() for h in next(lines)]
    columns = {FIELD_OF_HEADER[normalise(h)]: i for i, h in enumerate(header)
               if normalise(h) in FIELD_OF_HEADER}
    rows = []
    for number, cells in enumerate(lines, start=2):
        if any(c.strip() for c in cells):
            rows.append((number, {f: cells[i].strip() if i < len(cells) else ""
                                  for f, i in columns.items()}))
    return [f for f in FIELDS if f in columns], rows


def validate(cells):
    problems = Problems()
    blank = [f for f in MANDATORY if not cells[f]]
    if blank:
        names = ", ".join(HEADER[f] for f in blank)
        problems.add("MissingMandatoryField", blank, f"blank mandatory cell(s): {names}")
    email = cells["email"]
    if email and not valid_email(email):
        problems.add("InvalidEmail", ["email"],
                     f'Email "{email}" is not an address of the form local@domain.tld')
    uid = cells["coupaUserId"]
    if uid and not (uid.isascii() and uid.isdigit()):
        problems.add("InvalidCoupaUserId", ["coupaUserId"], f'Coupa User ID "{uid}" is not all digits')
    elif len(uid) > 20:
        problems.add("InvalidCoupaUserId", ["coupaUserId"],
                     f'Coupa User ID "{uid[:20]}…" has {len(uid)} digits, more than the 20 a Coupa user id can have')
    status = cells.get("status", "")
    if status and status.lower() not in STATUSES:
        problems.add("InvalidStatus", ["status"], f'Status "{status}" is not Active, Inactive or Deleted')
    return problems


def mark_duplicates(rows, problems):
    def groups(field, keep):
        seen = {}
        for index, (_, cells) in enumerate(rows):
            if keep(cells):
                seen.setdefault(fold(cells[field]), []).append(index)
        return [group for group in seen.values() if len(group) > 1]

    def mark(group, field):
        numbers = row_list([rows[i][0] for i in group])
        for i in group:
            value = rows[i][1][field]
            problems[i].add("DuplicateInTemplate", [field],
                            f'{HEADER[field]} "{value}" is shared by rows {numbers} of the template: none of them is applied')

    for group in groups("coupaUserId", lambda c: c["coupaUserId"]):
        mark(group, "coupaUserId")
    for field in ["email", "coupaUsername"]:
        for group in groups(field, lambda c: c[field] and c["coupaUserId"]):
            if len({fold(rows[i][1]["coupaUserId"]) for i in group}) > 1:
                mark(group, field)


def index_users(users):
    indexes = {f: {} for f in ["coupaUserId", "coupaUsername", "email", "username"]}
    by_name = {}
    for position, (name, spec) in enumerate(users):
        for field, index in indexes.items():
            value = stored(spec, field)
            if value is not None:
                index.setdefault(fold(value), position)
        by_name.setdefault(name, position)
    return indexes, by_name


def match_row(indexes, users, cells):
    def lookup(field):
        value = cells[field]
        return indexes[field].get(fold(value)) if value else None

    def has(user, field):
        return stored(users[user][1], field) is not None

    x_id, x_cu, x_email = lookup("coupaUserId"), lookup("coupaUsername"), lookup("email")
    if x_id is not None:
        other_cu = x_cu if x_cu is not None and x_cu != x_id else None
        other_email = x_email if x_email is not None and x_email != x_id else None
        if other_cu is not None:
            fields = ["coupaUsername"] + (["email"] if other_email == other_cu else [])
            return ("mismatch", other_cu, fields)
        if other_email is not None:
            return ("mismatch", other_email, ["email"])
        return ("update", x_id, False)
    if x_cu is not None:
        if has(x_cu, "coupaUserId"):
            return ("mismatch", x_cu, ["coupaUsername"])
        if x_email is not None and x_email != x_cu:
            return ("mismatch", x_email, ["email"])
        return ("update", x_cu, True)
    if x_email is not None:
        if has(x_email, "coupaUserId") or has(x_email, "coupaUsername"):
            return ("mismatch", x_email, ["email"])
        return ("update", x_email, True)
    return ("new", None, None)


def add_mismatch(problems, users, holder, fields, cells):
    spec = users[holder][1]
    keys = " and ".join(
        f'{HEADER[f]} "{(cells.get(f) or cells["coupaUsername"]) if f == "username" else cells[f]}"'
        for f in fields)
    verb = "belongs" if len(fields) == 1 else "belong"
    problems.add("Mismatch", fields,
                 f'{keys} {verb} to user "{spec.get("username") or ""}" (Coupa User ID '
                 f'{stored(spec, "coupaUserId") or "none"}), not to Coupa User ID {cells["coupaUserId"]}')


def same(field, old, new):
    return fold(old) == fold(new) if field in IGNORES_CASE else old.strip() == new.strip()


def diff_update(fields, cells, spec, link, sso_sync):
    desired, changed, highlighted = None, [], []
    for field in fields:
        given = cells[field]
        if not given:
            continue
        current = stored(spec, field)
        if current is not None and same(field, current, given):
            continue
        is_link = field in ("coupaUserId", "coupaUsername") and current is None
        if spec.get("ssoSynced", False) and field in NON_EDITABLE and not is_link:
            highlighted.append(field)
        else:
            if desired is None:
                desired = dict(spec)
            desired[field] = STATUSES[given.lower()] if field == "status" else given
            changed.append(field)
    if desired is not None and link and desired.get("ssoSynced", False) != sso_sync:
        desired["ssoSynced"] = sso_sync
        changed.append("ssoSynced")
    return desired, changed, highlighted


def new_user(fields, cells, sso_sync):
    spec = {"ssoSynced": sso_sync}
    for field in fields:
        if cells[field]:
            spec[field] = STATUSES[cells[field].lower()] if field == "status" else cells[field]
    spec.setdefault("username", cells["coupaUsername"])
    spec.setdefault("status", "Active")
    return spec


def plan(fields, rows, users, tenant, sso_sync):
    indexes, by_name = index_users(users)
    problems = [validate(cells) for _, cells in rows]
    mark_duplicates(rows, problems)
    names, first = [], {}
    for (number, cells), row_problems in zip(rows, problems):
        uid = cells["coupaUserId"]
        if not uid or "InvalidCoupaUserId" in row_problems.reasons:
            names.append(None)
            continue
        name = dns_name(f"{tenant}-{uid}")
        if name in first and first[name][0] != uid:
            row_problems.add("InvalidCoupaUserId", ["coupaUserId"],
                             f'Coupa User ID "{uid}" gives the same record name as Coupa User ID "{first[name][0]}" of row {first[name][1]} (a record name is cut to 253 characters): two users cannot share one record')
        first.setdefault(name, (uid, number))
        names.append(name)

    def by_username(name):
        return indexes["username"].get(fold(name))

    outcomes = []
    for (number, cells), row_problems, name in zip(rows, problems, names):
        kind, target, extra = match_row(indexes, users, cells)
        if kind == "mismatch":
            add_mismatch(row_problems, users, target, extra, cells)
            outcomes.append(("problem", row_problems, target))
        elif row_problems.reasons:
            outcomes.append(("problem", row_problems, target))
        elif kind == "update":
            desired, changed, highlighted = diff_update(fields, cells, users[target][1], extra, sso_sync)
            holder = by_username((desired or {}).get("username") or "")
            if holder is not None and holder != target and "username" in changed:
                add_mismatch(row_problems, users, holder, ["username"], cells)
                outcomes.append(("problem", row_problems, holder))
            else:
                outcomes.append(("update", target, (desired, changed, highlighted)))
        else:
            spec = new_user(fields, cells, sso_sync)
            name = name or dns_name(f"{tenant}-{cells['coupaUserId']}")
            holder = by_username(spec["username"])
            if holder is not None:
                add_mismatch(row_problems, users, holder, ["username"], cells)
                outcomes.append(("problem", row_problems, holder))
            elif name in by_name:
                holder = by_name[name]
                row_problems.add("Mismatch", ["coupaUserId"],
                                 f'the record name "{name}" is taken by user "{users[holder][1].get("username") or ""}"')
                outcomes.append(("problem", row_problems, holder))
            else:
                outcomes.append(("new", name, spec))

    new_by_username = {}
    for position, outcome in enumerate(outcomes):
        if outcome[0] == "new":
            new_by_username.setdefault(fold(outcome[2]["username"]), []).append(position)
    for group in new_by_username.values():
        if len(group) > 1:
            numbers = row_list([rows[p][0] for p in group])
            for position in group:
                row_problems = Problems()
                row_problems.add("DuplicateInTemplate", ["username"],
                                 f"the new users of rows {numbers} would share one username: none of them is applied")
                outcomes[position] = ("problem", row_problems, None)

    report = {"counts": {"new": 0, "update": 0, "unchanged": 0, "problem": 0},
              "new": [], "update": [], "problem": []}
    counts = report["counts"]
    for (number, cells), outcome in zip(rows, outcomes):
        uid = cells["coupaUserId"]
        if outcome[0] == "new":
            spec = outcome[2]
            report["new"].append({"row": number, "coupaUserId": uid,
                                  "coupaUsername": spec.get("coupaUsername", ""),
                                  "email": spec.get("email", ""), "username": spec["username"],
                                  "highlightedFields": []})
            counts["new"] += 1
        elif outcome[0] == "update":
            desired, changed, highlighted = outcome[2]
            if desired is None and not highlighted:
                counts["unchanged"] += 1
                continue
            report["update"].append({"row": number, "coupaUserId": uid,
                                     "username": users[outcome[1]][1].get("username") or "",
                                     "changedFields": changed, "highlightedFields": highlighted})
            counts["update"] += 1
        else:
            row_problems, holder = outcome[1], outcome[2]
            conflicts = None
            if holder is not None:
                spec = users[holder][1]
                conflicts = {k: spec.get(k) or "" for k in ["username", "coupaUsername", "email"]}
            report["problem"].append({
                "row": number, "coupaUserId": uid,
                "reason": min(row_problems.reasons, key=REASONS.index),
                "fields": [f for f in FIELDS if f in row_problems.fields],
                "message": "; ".join(row_problems.messages), "conflictsWith": conflicts})
            counts["problem"] += 1
    return report


def main():
    template_path, records_path, tenant = sys.argv[1:4]
    fields, rows = read_template(template_path)
    with open(records_path, encoding="utf-8") as f:
        records = json.load(f)
    users = [(item["metadata"]["name"], item["spec"]) for item in records.get("items", [])]
    labels = {(item["metadata"].get("labels") or {}).get("riskassess.io/tenant")
              for item in records.get("items", [])}
    tenant = labels.pop() if len(labels) == 1 and None not in labels else dns_name(tenant)
    report = plan(fields, rows, users, tenant, sso_sync=True)
    sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
