"""Licence names and expressions: normalise them, and decide whether the corpus may keep them.

Package metadata spells licences in a dozen ways ("MIT License", "Expat", "BSD-3-clause",
"MIT/Apache-2.0", a trove classifier, the whole licence text pasted into a field). Everything
is mapped to a short SPDX-like id first; an expression is then kept when *some* alternative of
an ``OR`` is permissive and *every* part of an ``AND`` is. Anything not recognised is unknown,
and unknown is never permissive: the corpus would rather lose a file than keep one it may not.

Pure functions only: no file system, so the rules are easy to test.
"""

from __future__ import annotations

import re

PERMISSIVE = frozenset(
    {
        "MIT", "MIT-0", "MIT-CMU", "BSD", "BSD-2-Clause", "BSD-3-Clause", "0BSD", "Apache-2.0",
        "PSF-2.0", "Python-2.0", "ISC", "Zlib", "Unlicense", "CC0-1.0", "BSL-1.0", "HPND",
        "Unicode-DFS-2016", "Unicode-3.0", "X11", "NCSA", "PublicDomain", "BlueOak-1.0.0",
    }
)

# Lower-cased spellings seen in METADATA, package.json, Cargo.toml and debian/copyright.
_ALIASES = {
    "mit": "MIT", "mit license": "MIT", "the mit license": "MIT", "mit licence": "MIT",
    "expat": "MIT", "mit/x11": "MIT", "mit-style": "MIT", "mit-0": "MIT-0", "mit-cmu": "MIT-CMU",
    "bsd": "BSD", "bsd license": "BSD", "bsd-style": "BSD", "bsd licence": "BSD",
    "bsd-3-clause": "BSD-3-Clause", "bsd 3-clause": "BSD-3-Clause",
    "bsd 3-clause license": "BSD-3-Clause", "3-clause bsd": "BSD-3-Clause",
    "3-clause bsd license": "BSD-3-Clause", "new bsd": "BSD-3-Clause",
    "new bsd license": "BSD-3-Clause", "modified bsd": "BSD-3-Clause",
    "modified bsd license": "BSD-3-Clause", "revised bsd": "BSD-3-Clause", "bsd-3": "BSD-3-Clause",
    "bsd-2-clause": "BSD-2-Clause", "bsd 2-clause": "BSD-2-Clause", "2-clause bsd": "BSD-2-Clause",
    "simplified bsd": "BSD-2-Clause", "freebsd": "BSD-2-Clause", "bsd-2": "BSD-2-Clause",
    "0bsd": "0BSD",
    "apache-2.0": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache 2": "Apache-2.0",
    "apache2": "Apache-2.0", "apache-2": "Apache-2.0", "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0", "apache license version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0", "apache software license 2.0": "Apache-2.0",
    "apache license": "Apache-2.0", "asl 2.0": "Apache-2.0", "apache": "Apache-2.0",
    "psf": "PSF-2.0", "psf-2.0": "PSF-2.0", "psfl": "PSF-2.0", "psf license": "PSF-2.0",
    "python software foundation license": "PSF-2.0", "python-2.0": "Python-2.0",
    "isc": "ISC", "isc license": "ISC", "iscl": "ISC", "isc license (iscl)": "ISC",
    "zlib": "Zlib", "zlib/libpng": "Zlib", "zlib license": "Zlib", "zlib-acknowledgement": "Zlib",
    "unlicense": "Unlicense", "the unlicense": "Unlicense", "the unlicense (unlicense)": "Unlicense",
    "cc0": "CC0-1.0", "cc0-1.0": "CC0-1.0", "cc0 1.0 universal": "CC0-1.0",
    "bsl-1.0": "BSL-1.0", "boost": "BSL-1.0", "boost software license 1.0 (bsl-1.0)": "BSL-1.0",
    "hpnd": "HPND", "unicode-dfs-2016": "Unicode-DFS-2016", "unicode-3.0": "Unicode-3.0",
    "x11": "X11", "ncsa": "NCSA", "blueoak-1.0.0": "BlueOak-1.0.0", "public domain": "PublicDomain", "public-domain": "PublicDomain",
}

# Trove classifiers ("License :: OSI Approved :: <last part>"), by their last part.
_CLASSIFIERS = {
    "mit license": "MIT", "mit no attribution license (mit-0)": "MIT-0", "bsd license": "BSD",
    "apache software license": "Apache-2.0", "python software foundation license": "PSF-2.0",
    "isc license (iscl)": "ISC", "zlib/libpng license": "Zlib", "the unlicense (unlicense)": "Unlicense",
    "boost software license 1.0 (bsl-1.0)": "BSL-1.0", "public domain": "PublicDomain",
    "cc0 1.0 universal (cc0 1.0) public domain dedication": "CC0-1.0",
    "historical permission notice and disclaimer (hpnd)": "HPND",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "gnu general public license v2 (gplv2)": "GPL-2.0", "gnu general public license v3 (gplv3)": "GPL-3.0",
    "gnu general public license (gpl)": "GPL", "gnu lesser general public license v3 (lgplv3)": "LGPL-3.0",
    "gnu lesser general public license v2 (lgplv2)": "LGPL-2.0",
    "gnu library or lesser general public license (lgpl)": "LGPL",
    "gnu affero general public license v3": "AGPL-3.0", "other/proprietary license": "Proprietary",
}

# Recognisable sentences of licence texts. Copyleft comes first so that a file that quotes
# several licences is judged by the most restrictive one.
_TEXT_MARKERS = (
    ("GNU AFFERO GENERAL PUBLIC LICENSE", "AGPL"),
    ("GNU LESSER GENERAL PUBLIC LICENSE", "LGPL"),
    ("GNU LIBRARY GENERAL PUBLIC LICENSE", "LGPL"),
    ("GNU GENERAL PUBLIC LICENSE", "GPL"),
    ("Mozilla Public License", "MPL-2.0"),
    ("Apache License", "Apache-2.0"),
    ("Permission is hereby granted, free of charge", "MIT"),
    ("This is free and unencumbered software released into the public domain", "Unlicense"),
    ("Permission to use, copy, modify, and/or distribute this software for any", "ISC"),
    ("Permission to use, copy, modify, and distribute this software for any", "ISC"),
    ("provided 'as-is', without any express or implied", "Zlib"),
    ("PYTHON SOFTWARE FOUNDATION LICENSE", "PSF-2.0"),
    ("Boost Software License", "BSL-1.0"),
)

_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def normalise_id(name: str) -> str | None:
    """One licence name as a short id ("MIT License" -> "MIT"), or None if not recognised."""
    # Debian writes variants as "BSD-3-clause~Google": the part after "~" names the holder.
    key = " ".join(name.strip().strip("\"'").split("~")[0].lower().split())
    if key in _ALIASES:
        return _ALIASES[key]
    if re.fullmatch(r"a?gpl-?[0-9.]*(\+|-only|-or-later)?", key):
        return key.upper().replace("-ONLY", "").replace("-OR-LATER", "+")
    if re.fullmatch(r"l?gpl.*|agpl.*|mpl.*|epl.*|cddl.*|eupl.*|cc-by-sa.*|cc-by-nc.*|sspl.*", key):
        return key.upper()
    return None


def parse_expression(expr: str) -> tuple[str, bool] | None:
    """Normalise an SPDX-like expression and say whether it is permissive.

    ``"MIT/Apache-2.0"`` (the old Cargo spelling) reads as ``MIT OR Apache-2.0``; ``X WITH
    exception`` is judged as ``X`` (exceptions only add permissions). Returns None when any
    licence in it is not recognised, since the whole then cannot be judged.
    """
    text = expr.replace("/", " OR ").strip()
    if not text:
        return None
    tokens = _TOKEN.findall(text)
    # Licence names may contain spaces ("Apache License 2.0"); glue words between operators.
    merged: list[str] = []
    for token in tokens:
        is_operator = token.upper() in ("AND", "OR", "WITH") or token in "()"
        previous_is_word = bool(merged) and merged[-1].upper() not in ("AND", "OR", "WITH", "(", ")")
        if not is_operator and previous_is_word:
            merged[-1] += " " + token
        else:
            merged.append(token.upper() if token.upper() in ("AND", "OR", "WITH") else token)
    try:
        normalised, permissive, end = _parse_or(merged, 0)
    except ValueError:
        return None
    if end != len(merged):
        return None
    return normalised, permissive


def _parse_or(tokens: list[str], i: int) -> tuple[str, bool, int]:
    text, ok, i = _parse_and(tokens, i)
    parts, any_ok = [text], ok
    while i < len(tokens) and tokens[i] == "OR":
        text, ok, i = _parse_and(tokens, i + 1)
        if text not in parts:  # Debian writes "BSD-3-Clause or BSD-3-clause"
            parts.append(text)
        any_ok = any_ok or ok
    return " OR ".join(parts), any_ok, i


def _parse_and(tokens: list[str], i: int) -> tuple[str, bool, int]:
    text, ok, i = _parse_atom(tokens, i)
    parts, all_ok = [text], ok
    while i < len(tokens) and tokens[i] == "AND":
        text, ok, i = _parse_atom(tokens, i + 1)
        parts.append(text)
        all_ok = all_ok and ok
    return " AND ".join(parts), all_ok, i


def _parse_atom(tokens: list[str], i: int) -> tuple[str, bool, int]:
    if i >= len(tokens):
        raise ValueError("expression ends early")
    if tokens[i] == "(":
        text, ok, i = _parse_or(tokens, i + 1)
        if i >= len(tokens) or tokens[i] != ")":
            raise ValueError("unbalanced parenthesis")
        return f"({text})", ok, i + 1
    name = normalise_id(tokens[i])
    if name is None:
        raise ValueError(f"unknown licence {tokens[i]!r}")
    i += 1
    if i < len(tokens) and tokens[i] == "WITH":
        if i + 1 >= len(tokens):
            raise ValueError("WITH without an exception")
        return f"{name} WITH {tokens[i + 1]}", name in PERMISSIVE, i + 2
    return name, name in PERMISSIVE, i


def licence_from_text(text: str) -> str | None:
    """The licence a LICENSE/COPYING file's text states, or None if it is not recognisable."""
    flat = " ".join(text.split())
    for marker, name in _TEXT_MARKERS:
        if marker.lower() in flat.lower():
            return name
    if "redistribution and use in source and binary forms" in flat.lower():
        three = "neither the name" in flat.lower() or "endorse or promote" in flat.lower()
        return "BSD-3-Clause" if three else "BSD-2-Clause"
    return None


def licence_from_classifiers(classifiers: list[str]) -> str | None:
    """Join the licence trove classifiers with OR (PyPI's convention for dual licensing)."""
    names = []
    for classifier in classifiers:
        parts = [p.strip() for p in classifier.split("::")]
        if parts[0] != "License" or len(parts) < 2:
            continue
        name = _CLASSIFIERS.get(parts[-1].lower())
        if name is None and parts[-1] != "OSI Approved":
            return None
        if name is not None and name not in names:
            names.append(name)
    return " OR ".join(names) if names else None


def licence_from_metadata(fields: dict[str, list[str]]) -> str | None:
    """The licence of a Python distribution from its parsed METADATA headers.

    ``License-Expression`` (PEP 639) wins; then a ``License`` field that is a name; then the
    classifiers; then a ``License`` field that holds the licence's whole text.
    """
    for expr in fields.get("license-expression", []):
        if parse_expression(expr) is not None:
            return expr
    declared = [v.strip() for v in fields.get("license", []) if v.strip()]
    for value in declared:
        if "\n" not in value and len(value) < 100 and parse_expression(value) is not None:
            return value
    from_classifiers = licence_from_classifiers(fields.get("classifier", []))
    if from_classifiers:
        return from_classifiers
    for value in declared:
        found = licence_from_text(value)
        if found:
            return found
    return None


def licence_from_debian_copyright(text: str) -> str | None:
    """The licence of the ``Files: *`` stanza of a machine-readable debian/copyright."""
    for stanza in re.split(r"\n\s*\n", text):
        if re.search(r"^Files:\s*\*\s*$", stanza, re.MULTILINE):
            match = re.search(r"^License:\s*(.+)$", stanza, re.MULTILINE)
            if match:
                return match.group(1).strip()
    return None


def judge(licence: str | None) -> tuple[str, bool]:
    """(normalised name or "unknown", keep?) for a licence as found in metadata."""
    if not licence:
        return "unknown", False
    parsed = parse_expression(licence)
    if parsed is None:
        found = licence_from_text(licence) if len(licence) > 100 else None
        if found is None:
            return "unknown", False
        parsed = parse_expression(found)
        assert parsed is not None
    return parsed
