"""The data layout has one definition (keys.py, records.py) and the Lua scripts use it:
their prelude is generated from it, and no script spells a key name of its own. These
tests fail when the Lua side and the Python side of the layout disagree."""

from __future__ import annotations

import inspect
import json
import re

import pytest
import redis

from hippo.shared.records import ACTIVE_STATES, TASK_RECORD_TEMPLATE, TERMINAL_STATES
from hippo.shared.store import (
    leader_scripts,
    lease_scripts,
    lua,
    queue_scripts,
    task_lua,
    task_scripts,
)
from hippo.shared.store.keys import Keys

PREFIX = "layout-test:"
SCRIPT_MODULES = (task_lua, task_scripts, queue_scripts, lease_scripts, leader_scripts)


def every_script() -> dict[str, str]:
    return {
        f"{module.__name__}.{name}": value
        for module in SCRIPT_MODULES
        for name, value in vars(module).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    }


def test_every_script_starts_with_the_generated_prelude() -> None:
    for name, script in every_script().items():
        assert script.startswith(lua.PRELUDE) and script.count(lua.PRELUDE) == 1, name


@pytest.mark.parametrize("name", [n for n in vars(Keys) if not n.startswith("_")])
def test_each_key_builder_gives_the_same_name_in_lua_and_in_python(
    raw_redis: redis.Redis, name: str
) -> None:
    keys = Keys(PREFIX)
    member = getattr(keys, name)
    if callable(member):
        args = ["one", "two"][: len(inspect.signature(member).parameters)]
        expected = member(*args)
        call = f"K.{name}({', '.join(repr(a) for a in args)})"
    else:
        expected, call = member, f"K.{name}"
    assert raw_redis.eval(lua.PRELUDE + f"return {call}", 0, PREFIX) == expected.encode()


def test_no_script_spells_a_key_name_of_its_own() -> None:
    """Every quoted piece of a key name in the prelude (`'tasks:active:id:'`...) may
    appear only there: a script writing one itself would bypass keys.py."""
    pieces = {
        piece
        for expression in lua.key_builders().values()
        for piece in re.findall(r"'([^']+)'", expression)
        if piece != ":"
    }
    for name, script in every_script().items():
        body = re.sub(r"--[^\n]*", "", script.removeprefix(lua.PRELUDE))  # comments out
        literals = set(re.findall(r"'([^']*)'", body))
        spelled = {lit for lit in literals for piece in pieces if lit.startswith(piece)}
        assert not spelled, f"{name} spells key names {sorted(spelled)}: use K.<builder>"


def test_the_state_sets_and_the_record_template_are_the_same_in_lua(
    raw_redis: redis.Redis,
) -> None:
    def lua_set(table: str) -> set[str]:
        script = f"local out = {{}} for k in pairs({table}) do out[#out + 1] = k end return out"
        return {s.decode() for s in raw_redis.eval(lua.PRELUDE + script, 0, PREFIX)}

    assert lua_set("TERMINAL") == TERMINAL_STATES
    assert lua_set("ACTIVE") == ACTIVE_STATES
    run = raw_redis.eval(lua.PRELUDE + "return cjson.encode(new_run())", 0, PREFIX)
    assert json.loads(run) == dict(TASK_RECORD_TEMPLATE)


def test_the_hints_the_scripts_publish_are_the_ones_the_leader_listens_for(
    raw_redis: redis.Redis,
) -> None:
    from hippo.shared.store import events

    names = raw_redis.eval(lua.PRELUDE + "return {HINT_WAITING, HINT_KILL}", 0, PREFIX)
    assert names == [events.WAITING, events.KILL]
