"""Hostile values for property tests: what a broken PBX or a malicious user can send.

Two families: JSON-ish values as a reply parser meets them (any type in any field, huge numbers, NaN,
deep nesting, every kind of Unicode digit), and text as a form field or query parameter meets it
(dial-string metacharacters, SQL- and path-like ids, numbers too long for any column).
"""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import strategies as st

#: Numbers no column holds: beyond signed 64-bit, at its edges, negative, in float form.
HUGE_INTS = [2**31, 2**31 - 1, 2**63, 2**63 - 1, -(2**63) - 1, 10**30, -(10**30), 10**300]
ODD_FLOATS = [float("nan"), float("inf"), float("-inf"), 1e300, -1e300, 1e-300, 0.5, -0.0, 2.0**63]
#: Digits Python's ``int()`` and ``str.isdigit`` accept but the PBX (and Asterisk) do not.
#: (Arabic-Indic, superscript, full-width, Devanagari, N'Ko, mathematical bold.)
UNICODE_DIGITS = ["٣", "²", "\uff10\uff13", "१२३", "\u07c0", "\U0001d7d7", "¹²³", "٣.٤"]
ODD_TEXT = [
    "",
    " ",
    "\x00",
    "-",
    "--1",
    "1e3",
    "0x10",
    "1_000",
    " 12 ",
    "-0",
    "9" * 19,
    "9" * 4301,
    "null",
    "true",
    "NaN",
    "Infinity",
    "\u202e101",
    "1\u200b2",
    "Tue Sep 14 15:03:30 AEST 0001",
    "0001-01-01 00:00:00",
    "9999-12-31 23:59:59",
    "0000-00-00 00:00:00",
    "Xyz Abc 99 99:99:99 2021",
    *UNICODE_DIGITS,
]


def nested(depth: int, leaf: Any = 0) -> Any:
    """``[[[...leaf...]]]`` ``depth`` deep, built without recursion."""
    return functools.reduce(lambda inner, _: [inner], range(depth), leaf)


#: JSON scalars, including the ones no schema expects.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ODD_FLOATS),
    st.text(max_size=30),
    st.sampled_from(ODD_TEXT),
    st.from_regex(r"-?[0-9]{1,25}", fullmatch=True),
)

#: Any JSON document (and then some: Python ints of any size, NaN, infinities).
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)

#: What may stand in a field of a reply: any JSON value, or something nested deeper than anyone nests.
field_values = st.one_of(
    json_scalars,
    json_values,
    st.sampled_from([nested(200), nested(200, {"a": 1}), {"a": nested(50)}]),
)

MISSING = object()


def mangled(template: dict[str, Any], extra_keys: tuple[str, ...] = ()) -> st.SearchStrategy[dict[str, Any]]:
    """``template`` with some fields replaced by hostile values and some left out altogether."""
    keys = tuple(template) + extra_keys

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        result = dict(template)
        for key in draw(st.lists(st.sampled_from(keys), unique=True, max_size=len(keys))):
            value = draw(st.one_of(st.just(MISSING), field_values))
            if value is MISSING:
                result.pop(key, None)
            else:
                result[key] = value
        return result

    return build()


# ---------------------------------------------------------------------------------------------- user input

#: Values a form field or query parameter may carry that look like something else.
ODD_INPUT = [
    "",
    " ",
    "0",
    "-1",
    "1.5",
    "1e3",
    "0x1F",
    "9" * 19,
    "9" * 40,
    "9" * 5000,
    "-" + "9" * 30,
    "1; DROP TABLE crm_invoice",
    "1' OR '1'='1",
    '1" OR "1"="1',
    "1 UNION SELECT password FROM auth_user",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "/etc/passwd",
    "C:\\Windows\\win.ini",
    "%00",
    "\x00",
    "1\x00",
    "1\n",
    "\r\n1",
    "${EXTEN}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "crm.invoice",
    "CRM.INVOICE",
    "crm..invoice",
    "crm.invoice.extra",
    "auth.user",
    "sessions.session",
    "noojee_django.recordingtag",
    "contenttypes.contenttype",
    "true",
    "null",
    "[]",
    "{}",
    *UNICODE_DIGITS,
]

#: A field value as a browser or a script can post it: free text, or a known odd value.
input_text = st.one_of(
    st.sampled_from(ODD_INPUT),
    st.text(max_size=40),
    st.integers().map(str),
    st.from_regex(r"\+?[0-9 ()\-.]{1,25}", fullmatch=True),
)
