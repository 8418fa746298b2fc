"""Strip Go-template actions from Helm templates so that the YAML around them can be parsed.

Not a renderer: both branches of an `if` are kept, `range` bodies appear once, and a
line holding only actions (control flow, or an `include`/`toYaml` that renders a block)
is dropped. What is left is the chart's fixed YAML skeleton with a placeholder where an
inline action stood; that is what `helm template` would fill in.
"""

from __future__ import annotations

import re

PLACEHOLDER = "TEMPLATED"
COMMENT = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", re.S)
ACTION = re.compile(r"\{\{-?(.*?)-?\}\}")
CONTROL = re.compile(r"\s*(if|else|end|range|with|define|block)\b")
OPENERS = re.compile(r"\{\{-?\s*(if|range|with|define|block)\b")
ENDS = re.compile(r"\{\{-?\s*end\s*-?\}\}")


class TemplateShapeError(ValueError):
    """The template uses a shape this stripper does not handle; it says which line."""


def strip_actions(text: str, name: str = "template") -> str:
    text = COMMENT.sub("", text)
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        actions = ACTION.findall(line)
        rest = ACTION.sub("", line)
        if "{{" in rest or "}}" in rest:
            raise TemplateShapeError(f"{name}:{number}: an action spans lines: {line!r}")
        if actions and not rest.strip():
            continue
        if any(CONTROL.match(action) for action in actions):
            raise TemplateShapeError(f"{name}:{number}: control action beside text: {line!r}")
        out.append(ACTION.sub(PLACEHOLDER, line))
    return "\n".join(out) + "\n"


def unbalanced_blocks(text: str) -> int:
    """Openers (if, range, with, define, block) minus `end`s; 0 when balanced."""
    text = COMMENT.sub("", text)
    return len(OPENERS.findall(text)) - len(ENDS.findall(text))
