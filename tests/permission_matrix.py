"""Who may do what: the expected outcome of every entry point of the app for eight kinds of user, on
two PBX connections (``"default"`` and ``"acme"``).

This table is the one source of the "Who may do what" table in ``docs/security.md``:
``tests/test_permission_matrix.py`` runs every cell against the emulator, checking the answer and what
it did (or did not do), and checks that the docs show this very table. After changing a cell, write
the docs again with::

    python -m tests.permission_matrix --write

No Django import here, so the table can be printed without settings.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROLES = ("anonymous", "agent", "other_agent", "outsider", "staff", "superuser", "acme_agent", "acme_staff")

ROLE_TITLES = {
    "anonymous": "anonymous",
    "agent": "agent",
    "other_agent": "agent of another extension",
    "outsider": "user without `view` on the record",
    "staff": "staff (operator)",
    "superuser": "superuser",
    "acme_agent": "agent of another PBX",
    "acme_staff": "operator of another PBX",
}

ROLE_DESCRIPTIONS = {
    "anonymous": "not logged in.",
    "agent": "`can_dial`, `can_record`, `view` on invoices and customers, phone `SIP/101`; the call, "
    "recording and invoice in the row are theirs.",
    "other_agent": "the same permissions, phone `SIP/102`.",
    "outsider": "logged in, no permission, no phone.",
    "staff": "`is_staff`, `view` and `change` on calls, recordings, legs, attempts and listens, `view` on "
    "invoices; no phone, no `can_dial`/`can_record`, nothing on agent phones or customers; bound to the "
    "connection `default` by `USER_PBXES`.",
    "superuser": "every permission; no phone.",
    "acme_agent": "the agent's permissions, phone `SIP/103` on the PBX connection `acme`: the row's call, "
    "recording and invoice are on the connection `default`.",
    "acme_staff": "staff's permissions, bound to the connection `acme` by `USER_PBXES` (staff is bound to "
    "`default`); no phone.",
}

OUTCOMES = {
    "ok": "allowed: done, or shown",
    "hidden": "answered (200), but the object is not in the answer (a filtered list, no player)",
    "403": "refused (HTTP 403), nothing done",
    "404": "answered as if the object did not exist, nothing done",
    "no phone": "refused for want of one's own `AgentPhone` (HTTP 409; a message in the admin), nothing done",
    "login": "sent to the login page (the admin's for admin pages), nothing done",
    "not offered": "the admin action is not in the user's list; posting it anyway does nothing",
    "refused": "the admin action is offered, and answers with a message saying why it did nothing",
    "missing": "the admin answers as for an object that does not exist (back to its index, saying so), "
    "nothing done",
    "none selected": "the admin action is offered, but the selected rows are not among the user's: it acts "
    "on none of them (\u201c0 recordings \u2026\u201d), nothing done",
}

# Paths are relative to where the project includes the app's URLs (``/noojee/``) or to the admin.
# The widget's endpoints are called as the JavaScript widget calls them (``Accept: application/json``);
# posted as plain forms, every refusal is a redirect back with the message, and anonymous users are
# sent to log in.
# A table reads best on one line a row, however wide.
# ruff: noqa: E501
# fmt: off
EXPECTED: dict[str, tuple[str, ...]] = {
    # entry point                                   anonymous agent   other_agent outsider staff         superuser   acme_agent acme_staff
    "POST dial/":                                 ("403",   "ok",    "ok",     "403",    "403",         "no phone", "ok",     "403"),
    "POST calls/<id>/hangup/":                    ("403",   "ok",    "404",    "404",    "ok",          "ok",       "404",    "404"),
    "GET calls/<id>/status/":                     ("403",   "ok",    "404",    "404",    "ok",          "ok",       "404",    "404"),
    "POST answer/ (a call ringing on SIP/101)":   ("403",   "ok",    "403",    "403",    "403",         "no phone", "403",    "403"),
    "POST recordings/start/":                     ("403",   "ok",    "ok",     "403",    "403",         "no phone", "ok",     "403"),
    "POST recordings/<id>/stop/":                 ("403",   "ok",    "404",    "404",    "ok",          "ok",       "404",    "404"),
    "POST recordings/<id>/pause/": ("403", "ok", "404", "404", "ok", "ok", "404", "404"),
    "POST recordings/<id>/resume/": ("403", "ok", "404", "404", "ok", "ok", "404", "404"),
    "GET recordings/<id>/status/":                ("403",   "ok",    "ok",     "404",    "ok",          "ok",       "404",    "404"),
    "GET recordings/<id>/audio/":                 ("login", "ok",    "ok",     "403",    "ok",          "ok",       "403",    "403"),
    "GET recordings/<id>/audio/ with Range":      ("login", "ok",    "ok",     "403",    "ok",          "ok",       "403",    "403"),
    "HEAD recordings/<id>/audio/":                ("login", "ok",    "ok",     "403",    "ok",          "ok",       "403",    "403"),
    "GET recordings/<id>/audio/?download=1":      ("login", "ok",    "ok",     "403",    "ok",          "ok",       "403",    "403"),
    "GET legs/<id>/audio/":                       ("login", "ok",    "ok",     "403",    "ok",          "ok",       "403",    "403"),
    "GET legs/<id>/audio/ with Range":            ("login", "ok",    "ok",     "403",    "ok",          "ok",       "403",    "403"),
    "GET recordings/<id>/evidence.zip":           ("login", "403",   "403",    "403",    "403",         "ok",       "403",    "403"),
    "GET jsi18n/ (the widget's words)":           ("ok",    "ok",    "ok",     "ok",     "ok",          "ok",       "ok",     "ok"),
    "GET api/":                                   ("403",   "ok",    "ok",     "ok",     "ok",          "ok",       "ok",     "ok"),
    "GET api/schema/":                            ("403",   "ok",    "ok",     "ok",     "ok",          "ok",       "ok",     "ok"),
    "GET api/docs/":                              ("login", "ok",    "ok",     "ok",     "ok",          "ok",       "ok",     "ok"),
    "GET api/calls/":                             ("403",   "ok",    "hidden", "hidden", "hidden",      "hidden",   "hidden", "hidden"),
    "POST api/calls/":                            ("403",   "ok",    "ok",     "403",    "403",         "no phone", "ok",     "403"),
    "GET api/calls/<id>/":                        ("403",   "ok",    "404",    "404",    "ok",          "ok",       "404",    "404"),
    "POST api/calls/<id>/hangup/":                ("403",   "ok",    "404",    "404",    "ok",          "ok",       "404",    "404"),
    "GET api/recordings/":                        ("403",   "ok",    "ok",     "hidden", "ok",          "ok",       "hidden", "hidden"),
    "POST api/recordings/":                       ("403",   "ok",    "ok",     "403",    "403",         "no phone", "ok",     "403"),
    "GET api/recordings/script/ (the script to show)": ("403",   "ok",    "ok",     "403",    "403",         "ok",       "ok",     "403"),
    "GET api/recordings/<id>/":                   ("403",   "ok",    "ok",     "404",    "ok",          "ok",       "404",    "404"),
    "POST api/recordings/<id>/stop/":             ("403",   "ok",    "404",    "404",    "ok",          "ok",       "404",    "404"),
    "POST api/recordings/<id>/stop/ (attached)":  ("403",   "ok",    "404",    "404",    "ok",          "ok",       "404",    "404"),
    "POST api/recordings/<id>/pause/": ("403", "ok", "404", "404", "ok", "ok", "404", "404"),
    "POST api/recordings/<id>/resume/": ("403", "ok", "404", "404", "ok", "ok", "404", "404"),
    "POST api/recordings/<id>/poll/":             ("403",   "403",   "403",    "403",    "ok",          "ok",       "403",    "404"),
    "GET api/recordings/<id>/evidence/":          ("403",   "403",   "403",    "403",    "403",         "ok",       "403",    "403"),
    "GET api/legs/":                              ("403",   "ok",    "ok",     "hidden", "ok",          "ok",       "hidden", "hidden"),
    "GET api/legs/<id>/":                         ("403",   "ok",    "ok",     "404",    "ok",          "ok",       "404",    "404"),
    "admin: agent phones":                        ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: an agent phone":                      ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: add an agent phone":                  ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: calls":                               ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "hidden"),
    "admin: a call":                              ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "missing"),
    "admin: recordings":                          ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "hidden"),
    "admin: a recording":                         ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "missing"),
    "admin: save a recording (legal hold off)":   ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "missing"),
    "admin: delete a recording":                  ("login", "login", "login",  "login",  "403",         "403",      "login",  "403"),
    "admin: legs":                                ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "hidden"),
    "admin: a leg":                               ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "missing"),
    "admin: delete a leg":                        ("login", "login", "login",  "login",  "403",         "403",      "login",  "403"),
    "admin: attempts":                            ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "hidden"),
    "admin: an attempt":                          ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "missing"),
    "admin: listens":                             ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "hidden"),
    "admin: a listen":                            ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "missing"),
    "admin: the audio ledger":                    ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: an audio ledger entry":               ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: status changes":                      ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: a status change":                     ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: backfill progress":                   ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: a backfill range":                    ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: log chain heads":                     ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: a log chain head":                    ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: scripts":                             ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: a script":                            ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: add a script":                        ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: a script's versions (read-only)":     ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: change a script's text (a new version)": ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: delete a script":                     ("login", "login", "login",  "login",  "403",         "403",      "login",  "403"),
    "admin: script versions":                     ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: a script version":                    ("login", "login", "login",  "login",  "403",         "ok",       "login",  "403"),
    "admin: change or delete a script version":   ("login", "login", "login",  "login",  "403",         "403",      "login",  "403"),
    "admin action: Poll the PBX now":             ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "none selected"),
    "admin action: Set legal hold":               ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "none selected"),
    "admin action: Clear legal hold":             ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "none selected"),
    "admin action: Purge audio (confirmation)":   ("login", "login", "login",  "login",  "not offered", "ok",       "login",  "not offered"),
    "admin action: Purge audio (yes)":            ("login", "login", "login",  "login",  "not offered", "ok",       "login",  "not offered"),
    "admin action: Fetch audio again":            ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "none selected"),
    "admin action: Restore purged audio":         ("login", "login", "login",  "login",  "not offered", "ok",       "login",  "not offered"),
    "admin action: Attach to another record (review)": ("login", "login", "login",  "login",  "refused",     "ok",       "login",  "none selected"),
    "admin action: Attach to another record (yes)": ("login", "login", "login",  "login",  "refused",     "ok",       "login",  "none selected"),
    "admin action: Dial (a CRM admin)":           ("login", "login", "login",  "login",  "403",         "no phone", "login",  "403"),
    "admin: a CRM record's voice signatures":     ("login", "login", "login",  "login",  "ok",          "ok",       "login",  "hidden"),
}
# fmt: on

_START = "<!-- permission-matrix: generated by `python -m tests.permission_matrix --write` -->"
_END = "<!-- /permission-matrix -->"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "security.md"


def outcome(entry_point: str, role: str) -> str:
    return EXPECTED[entry_point][ROLES.index(role)]


def markdown() -> str:
    """The table as docs/security.md shows it, with its legend, between the markers."""
    lines = [
        _START,
        "",
        "| entry point | " + " | ".join(ROLE_TITLES[r] for r in ROLES) + " |",
        "|---|" + "---|" * len(ROLES),
    ]
    for entry_point, outcomes in EXPECTED.items():
        lines.append(f"| `{entry_point}` | " + " | ".join(outcomes) + " |")
    other_pbx = [r for r in ROLES if r.startswith("acme_")]
    lines += [
        "",
        f"{len(EXPECTED)} entry points \u00d7 {len(ROLES)} users: {len(EXPECTED) * len(ROLES)} cells, each run by "
        f"`tests/test_permission_matrix.py` (its answer and what it did, or did not do), "
        f"{len(EXPECTED) * len(other_pbx)} of them by the users of the other PBX.",
    ]
    lines += ["", "The users:", ""]
    lines += [f"- **{ROLE_TITLES[r]}**: {ROLE_DESCRIPTIONS[r]}" for r in ROLES]
    lines += ["", "The outcomes:", ""]
    lines += [f"- **{name}**: {meaning}." for name, meaning in OUTCOMES.items()]
    lines += ["", _END]
    return "\n".join(lines)


def docs_section(text: str) -> str | None:
    """The generated part of the docs page, markers included, or ``None`` when it has none."""
    match = re.search(re.escape(_START) + r".*?" + re.escape(_END), text, flags=re.DOTALL)
    return match.group(0) if match else None


def write_docs(path: Path = DOCS) -> None:
    text = path.read_text()
    current = docs_section(text)
    if current is None:
        raise SystemExit(f"{path} has no {_START!r} ... {_END!r} section to replace")
    path.write_text(text.replace(current, markdown()))


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        write_docs()
    else:
        print(markdown())
