"""What the agent reads is translatable, and the French catalog the app ships is used end to end.

The message catalogs are extracted here from a copy of the app (``makemessages`` writes next to the
sources it reads), the shipped French ``.mo`` files are checked against their ``.po`` sources, and the
buttons, a view's answer, the words of a state and the widget's JavaScript catalog are read in French.
That the English stays as it was is what the rest of the suite checks, in English.
"""

# The French texts are written with French typography: U+2019 for the apostrophe.
# ruff: noqa: RUF001

from __future__ import annotations

import gettext as gnu_gettext
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.template import RequestContext, Template
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from django.utils import translation

import noojee_django
from example_project.crm.models import Customer, Invoice
from noojee_django import states
from noojee_django.client import errors
from noojee_django.models import CallSession, RecordingTag

APP = Path(noojee_django.__file__).resolve().parent
REPO = APP.parent
LOCALE = APP / "locale"
JSON = {"HTTP_ACCEPT": "application/json"}

#: A sample of what agents read, by where it is written, as a catalog names it.
AGENT_WORDS = {
    "views.py": ["Calling %(number)s: pick up your phone.", "Answered: pick up your phone."],
    "services": [
        "You have no phone extension: ask an administrator to add one.",
        "Only the agent who started this recording can stop it.",
        "The PBX could not %(action)s: %(reason)s",
    ],
    "states.py": ["Waiting for the call to end", "Ringing your phone", "it is busy. Try again in a minute."],
    "validation.py": ["Enter a phone number.", "A tag has at most %(max)s characters."],
    "templates": [
        "Hang up",
        "Record voice signature %(tag)s",
        "The customer agrees to be recorded",
        "No recordings yet.",
        "Hang up the call to %(number)s",
    ],
    "admin": ["Poll the PBX now", "%(count)d recording will be polled now."],
}
WIDGET_WORDS = [
    "Lost track of the call: %(error)s",
    "Hang up",
    "Your calls",
    "The server could not be reached.",
    "Placing the call",
]


def _msgids(po: Path) -> set[str]:
    """The msgids (and plural msgids) of a catalog written with ``--no-wrap``."""
    text = po.read_text(encoding="utf-8")
    found = re.findall(r'^msgid(?:_plural)? "(.*)"$', text, flags=re.MULTILINE)
    return {json.loads(f'"{raw}"') for raw in found if raw}


def _makemessages(app_copy: Path, domain: str) -> Path:
    command = [sys.executable, "-m", "django", "makemessages", "--locale", "fr", "--domain", domain]
    command += ["--no-wrap", "--no-location", "--ignore", "static/noojee_django/vendor/*"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=app_copy, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return app_copy / "locale" / "fr" / "LC_MESSAGES" / f"{domain}.po"


@pytest.fixture(scope="module")
def app_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app's sources without their catalogs, where makemessages may write its own."""
    assert shutil.which("xgettext"), "GNU gettext (xgettext, msgfmt) is needed: apt-get install gettext"
    into = tmp_path_factory.mktemp("app") / "noojee_django"
    shutil.copytree(APP, into, ignore=shutil.ignore_patterns("__pycache__", "locale", "vendor"))
    (into / "locale").mkdir()
    return into


# --------------------------------------------------------------------------------------------------
# Marked, and extracted


def test_makemessages_extracts_what_agents_read_from_python_and_templates(app_copy: Path) -> None:
    found = _msgids(_makemessages(app_copy, "django"))
    missing = {place: [w for w in words if w not in found] for place, words in AGENT_WORDS.items()}
    assert {place: words for place, words in missing.items() if words} == {}


def test_makemessages_extracts_the_widget_s_words_from_noojee_js(app_copy: Path) -> None:
    found = _msgids(_makemessages(app_copy, "djangojs"))
    assert [w for w in WIDGET_WORDS if w not in found] == []


#: ``_(f"...")``, ``gettext(f"...")``, ``ngettext(f"...")``...: the text is formatted before the
#: catalog is asked, so no translation ever matches it.
_TRANSLATED_F_STRING = re.compile(
    r"\b(?:_|gettext|gettext_lazy|ngettext|ngettext_lazy|pgettext|pgettext_lazy)\(\s*(?:[^,()]*,\s*)?[rRbB]?[fF][\"']"
)


def test_no_module_of_the_app_translates_an_f_string() -> None:
    assert _TRANSLATED_F_STRING.search('_(f"Calling {number}")')  # the rule sees what it forbids
    assert _TRANSLATED_F_STRING.search('pgettext("button", f"Hang up {n}")')
    assert not _TRANSLATED_F_STRING.search('_("Calling %(number)s") % {"number": n}')
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted(APP.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if _TRANSLATED_F_STRING.search(line)
    ]
    assert offenders == []


# --------------------------------------------------------------------------------------------------
# The shipped catalogs


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_the_shipped_french_mo_files_are_compiled_from_their_po_sources(tmp_path: Path, domain: str) -> None:
    po = LOCALE / "fr" / "LC_MESSAGES" / f"{domain}.po"
    compiled = tmp_path / f"{domain}.mo"
    done = subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(po)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr  # --check: every %(name)s of a msgid is in its msgstr
    with open(compiled, "rb") as fresh, open(po.with_suffix(".mo"), "rb") as shipped:
        assert gnu_gettext.GNUTranslations(shipped)._catalog == gnu_gettext.GNUTranslations(fresh)._catalog  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------------
# Read in French


def _render(source: str, user: Any, **context: Any) -> str:
    request = RequestFactory().get("/invoices/1/")
    request.user = user
    return Template("{% load noojee %}" + source).render(RequestContext(request, context))


@pytest.mark.django_db
def test_the_record_button_and_the_call_bar_render_in_french(agent: User, invoice: Invoice) -> None:
    CallSession.objects.create(user=agent, extension="SIP/101", number="0383208100", status="ringing")
    with translation.override("fr"):
        html = _render(
            "{% noojee_record_button invoice 'INV-42' %}{% noojee_call_status %}", agent, invoice=invoice
        )
    assert "Enregistrer la signature vocale INV-42" in html
    assert "Le client accepte d’être enregistré" in html
    assert "Raccrocher</button>" in html
    assert 'aria-label="Vos appels"' in html
    assert "Sonnerie: 0383208100" in html  # the call's state, from states.py
    assert "Record voice signature" not in html and "Hang up" not in html


@pytest.mark.django_db
@override_settings(LANGUAGE_CODE="fr")
def test_a_view_answers_the_widget_in_the_project_s_language(agent: User, customer: Customer) -> None:
    client = Client()
    client.force_login(agent)
    response = client.post(reverse("noojee:dial"), {"number": "0383&1"}, **JSON)
    assert response.status_code == 400
    assert response.json() == {
        "error": "Un numéro de téléphone ne peut contenir que des chiffres, des espaces, des tirets, "
        "des points, des parenthèses et un + initial.",
        "field": "number",
    }


@pytest.mark.django_db
def test_the_locale_middleware_picks_french_from_the_browser(settings: Any, agent: User) -> None:
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(
        middleware.index("django.middleware.common.CommonMiddleware"),
        "django.middleware.locale.LocaleMiddleware",
    )
    settings.MIDDLEWARE = middleware
    client = Client()
    client.force_login(agent)
    french = client.post(reverse("noojee:hangup", args=[999999]), **JSON, HTTP_ACCEPT_LANGUAGE="fr")
    english = client.post(reverse("noojee:hangup", args=[999999]), **JSON, HTTP_ACCEPT_LANGUAGE="en")
    assert (french.status_code, french.json()["error"]) == (404, "Appel introuvable.")
    assert (english.status_code, english.json()["error"]) == (404, "No such call.")


def test_the_words_of_states_and_pbx_errors_are_french_in_french() -> None:
    error = errors.NotFoundError("start: not found: No active call on 'SIP/101' (method=start, Code -1)")
    with translation.override("fr"):
        assert states.call_words(CallSession(status=CallSession.Status.DIALING)) == "Votre téléphone sonne"
        waiting = RecordingTag(tag="INV-42", status=RecordingTag.Status.WAITING, start_accepted=True)
        assert states.recording_words(waiting) == "En attente de la fin de l’appel"
        assert states.pbx_error_words("start recording", error) == (
            "Le PBX n’a pas pu démarrer l’enregistrement\u00a0: il n’y a aucun appel à enregistrer sur "
            "votre téléphone. Appelez d’abord le client."
        )
    assert states.pbx_error_words("start recording", error) == (
        "The PBX could not start recording: there is no call on your phone to record. "
        "Call the customer first."
    )


@pytest.mark.django_db
@override_settings(LANGUAGE_CODE="fr")
def test_the_javascript_catalog_gives_the_widget_its_french_words() -> None:
    response = Client().get(reverse("noojee:jsi18n"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    catalog = response.content.decode()
    assert '"Hang up": "Raccrocher"' in catalog
    assert '"Your calls": "Vos appels"' in catalog
    assert "Suivi de l\\u2019appel perdu\\u00a0: %(error)s" in catalog
    # cacheable: asked again with its date, it is not sent again
    again = Client().get(reverse("noojee:jsi18n"), HTTP_IF_MODIFIED_SINCE=response["Last-Modified"])
    assert again.status_code == 304


@pytest.mark.django_db
def test_the_javascript_catalog_is_empty_in_english() -> None:
    """English is the language the words are written in: the widget shows them as they are."""
    catalog = Client().get(reverse("noojee:jsi18n")).content.decode()
    assert "Raccrocher" not in catalog and '"Hang up"' not in catalog


# --------------------------------------------------------------------------------------------------
# The widget with and without the catalog

_NODE_HARNESS = """
const fs = require("fs");
const asked = [];
global.window = process.argv[2] === "catalog" ? {
  gettext: function (s) { asked.push(s); return "FR " + s; },
  interpolate: function (f, v) { return f.replace(/%\\((\\w+)\\)s/g, function (m, n) { return v[n]; }); }
} : {};
global.document = {
  readyState: "complete",
  addEventListener: function () {},
  querySelectorAll: function () { return []; }
};
eval(fs.readFileSync(process.argv[1], "utf8"));
process.stdout.write(JSON.stringify(asked));
"""


@pytest.mark.parametrize("with_catalog", [True, False], ids=["with the catalog", "without it"])
def test_the_widget_loads_with_or_without_the_javascript_catalog(with_catalog: bool) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = APP / "static" / "noojee_django" / "noojee.js"
    argv = [node, "-e", _NODE_HARNESS, str(script), "catalog" if with_catalog else "none"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    asked = json.loads(done.stdout)
    assert ("Placing the call" in asked) is with_catalog
