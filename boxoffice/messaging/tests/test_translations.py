"""Every catalogue is complete and compiled: a change that adds a string without translating it
in every language, or leaves a guess marked fuzzy, or forgets to recompile, fails here."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings

LOCALE = Path(settings.LOCALE_PATHS[0])
LANGUAGES = [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


def _entries(path: Path) -> list[dict]:
    """The .po file's entries: flags, msgctxt, msgid, msgid_plural and msgstr forms."""
    entries: list[dict] = []
    current: dict | None = None
    field = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            current = None
            continue
        if current is None:
            current = {"flags": "", "msgctxt": None, "msgid_plural": None, "msgstr": {}}
            entries.append(current)
        if line.startswith("#,"):
            current["flags"] += line
        elif line.startswith("#~"):
            current["obsolete"] = True
        elif line.startswith("#"):
            continue
        elif match := re.match(
            r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d)\])?) (\".*\")$", line
        ):
            field = match.group(1)
            value = ast.literal_eval(match.group(3))
            if field.startswith("msgstr"):
                field = f"msgstr{match.group(2) or 0}"
                current["msgstr"][field] = value
            else:
                current[field] = value
        elif line.startswith('"'):
            value = ast.literal_eval(line)
            if field.startswith("msgstr"):
                current["msgstr"][field] += value
            else:
                current[field] += value
    return [e for e in entries if "msgid" in e]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalogue_is_complete_and_not_fuzzy(language):
    entries = _entries(LOCALE / language / "LC_MESSAGES" / "django.po")
    assert len(entries) > 300  # the whole site, not a stub
    for entry in entries:
        if entry["msgid"] == "":
            continue  # the header
        assert "fuzzy" not in entry["flags"], entry["msgid"]
        assert not entry.get("obsolete"), entry["msgid"]
        assert entry["msgstr"], entry["msgid"]
        assert all(form.strip() for form in entry["msgstr"].values()), entry["msgid"]
        # A placeholder lost in translation would show the reader a raw %(name)s or crash.
        wanted = set(re.findall(r"%\(\w+\)[sd]|\{\{ [\w.]+ \}\}", entry["msgid"]))
        for form in entry["msgstr"].values():
            assert set(re.findall(r"%\(\w+\)[sd]|\{\{ [\w.]+ \}\}", form)) <= wanted, form


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalogue_matches_its_source(language):
    folder = LOCALE / language / "LC_MESSAGES"
    with (folder / "django.mo").open("rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)
    for entry in _entries(folder / "django.po"):
        if entry["msgid"] == "" or entry["msgid_plural"] is not None:
            continue
        if entry["msgctxt"] is not None:
            found = catalogue.pgettext(entry["msgctxt"], entry["msgid"])
        else:
            found = catalogue.gettext(entry["msgid"])
        assert found == entry["msgstr"]["msgstr0"], f"{language}: recompile ({entry['msgid']})"
