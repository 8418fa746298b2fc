"""The README and docs/ point only at files the repository has: a newcomer following a
link or a file name (a spec, a guide) finds it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_file_a_doc_links_to_exists_and_the_readme_names_only_ours(doc: Path) -> None:
    text = doc.read_text()
    links = set(re.findall(r"\]\(([^)#:]+)\)", text))
    # docs/ may cite Mesos' own documents by name (mesos.md); the README, a newcomer's
    # first page, names only files they can open here.
    named = (
        set(re.findall(r"(?<![\w/.-])([\w./-]+\.md)\b", text)) if doc.name == "README.md" else set()
    )
    missing = []
    for name in named | links:
        candidates = [doc.parent / name, REPO / name, REPO / "docs" / name]
        if not any(c.exists() for c in candidates):
            missing.append(name)
    assert missing == [], f"{doc.name} names files the repository does not have"


def test_the_operator_guide_covers_what_an_operator_asks() -> None:
    guide = (REPO / "docs" / "operating.md").read_text()
    for heading in (
        "## Glossary: task states",
        "## Glossary: why a task waits (`pending_reason`)",
        "## Where a task's output lives",
        "## Backing up Redis",
        "## Upgrading",
        "## Troubleshooting",
    ):
        assert heading in guide
    from hippo.shared.records import ALL_STATES

    for state in ALL_STATES:  # every state a record can show is explained
        assert f"`{state}`" in guide, state
