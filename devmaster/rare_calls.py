"""The calls Hippo itself never makes, accepted as a master accepts them.

UPDATE_FRAMEWORK, SHUTDOWN, MESSAGE, REQUEST, ACCEPT_INVERSE_OFFERS,
DECLINE_INVERSE_OFFERS, RECONCILE_OPERATIONS and ACKNOWLEDGE_OPERATION_STATUS: a
master answers 202 to each (UPDATE_FRAMEWORK 200 or 400), src/master/http.cpp. The
dev master does what is cheap and equivalent and logs the rest; each function says
which, after the `Master::` method of src/master/master.cpp it follows.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .call_validation import CallRefused, framework_error, framework_roles, stringify_set
from .model import JSON, Framework

if TYPE_CHECKING:
    from .master import Master

log = logging.getLogger(__name__)


def update_framework(master: Master, framework: Framework, update: JSON) -> None:
    """`Master::updateFramework`: a new FrameworkInfo (name, roles, capabilities,
    failover timeout...) and suppressed roles; offers of a role the framework left are
    rescinded. Refused with 400 like Mesos: an invalid FrameworkInfo, a changed
    principal, user or checkpoint, suppressed roles outside the roles."""
    info = dict(update["framework_info"])
    error = framework_error(info, master.config.roles)
    if error:
        raise CallRefused(400, f"Supplied FrameworkInfo is not valid: {error}")
    error = _update_error(framework.info, info)
    if error:
        raise CallRefused(400, f"FrameworkInfo update is not valid: {error}")
    roles = framework_roles(info)
    suppressed = set(update.get("suppressed_roles", []))
    if not suppressed <= set(roles):
        raise CallRefused(
            400,
            "'UpdateFramework' call is not valid: Suppressed roles"
            f" {stringify_set(suppressed - set(roles))} are not contained in the set of roles",
        )
    framework.info = info
    framework.suppressed = suppressed
    for offer_id in list(framework.offers):
        offer = master.offers.get(offer_id)
        if offer is not None and offer.role not in roles:
            master.offers.remove(offer, rescind=True)
    log.info("framework %s updated: name %r, roles %s", framework.id, info["name"], roles)
    master.offers.schedule()


def _update_error(old: JSON, new: JSON) -> str | None:
    """validation::framework::validateUpdate (src/master/validation.cpp)."""
    if old.get("principal") != new.get("principal"):
        return "Changing framework's principal is not allowed."
    if old["user"] != new["user"]:
        return (
            "Updating 'FrameworkInfo.user' is unsupported"
            f"; attempted to update from '{old['user']}' to '{new['user']}'"
        )
    before, after = old.get("checkpoint", False), new.get("checkpoint", False)
    if before != after:
        return (
            "Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update"
            f" from '{str(before).lower()}' to '{str(after).lower()}'"
        )
    return None


def shutdown(master: Master, framework: Framework, body: JSON) -> None:
    """`Master::shutdown`: the agent shuts the executor down. Each dev master task runs
    under an executor named after it (the command executor), so the task is killed."""
    agent_id, executor_id = body["agent_id"]["value"], body["executor_id"]["value"]
    agent = master.agents.get(agent_id)
    task = framework.tasks.get(executor_id)
    if agent is None or not agent.active:
        log.warning(
            "framework %s: SHUTDOWN of an executor on unknown agent %s", framework.id, agent_id
        )
        return
    if task is None or task.agent_id != agent_id or task.terminal or task.kill_requested:
        log.info(
            "framework %s: SHUTDOWN of executor %s: nothing runs it", framework.id, executor_id
        )
        return
    assert master.runner is not None
    master.runner.kill(task, master.config.kill_grace_s)


def message(master: Master, framework: Framework, body: JSON) -> None:
    """`Master::message` forwards the data to the executor; the command executor
    ignores framework messages (src/launcher/executor.cpp), so nothing more happens."""
    log.info(
        "framework %s: MESSAGE of %d base64 characters for executor %s dropped",
        framework.id,
        len(body["data"]),
        body["executor_id"]["value"],
    )


def request(master: Master, framework: Framework, body: JSON) -> None:
    """`Master::request`: the hierarchical allocator ignores resource requests."""
    log.info("framework %s: REQUEST ignored, like Mesos' allocator does", framework.id)


def inverse_offers(master: Master, framework: Framework, body: JSON) -> None:
    """`Master::acceptInverseOffers` / `declineInverseOffers`: the dev master makes no
    inverse offers (no maintenance schedules), so every id named is no longer valid."""
    for offer_id in body.get("inverse_offer_ids", []):
        log.warning(
            "framework %s: ignoring inverse offer %s: no longer valid",
            framework.id,
            offer_id["value"],
        )


def reconcile_operations(master: Master, framework: Framework, body: JSON) -> None:
    """`Master::reconcileOperations`: the dev master runs no offer operations but LAUNCH,
    so an implicit reconciliation sends nothing and each operation named is unknown:
    OPERATION_UNKNOWN in an UPDATE_OPERATION_STATUS event, without uuid."""
    for entry in body.get("operations", []):
        agent_id = entry.get("agent_id", {}).get("value")
        agent = master.agents.get(agent_id or "")
        if agent is not None and agent.active:
            text = "Reconciliation: Operation is unknown"
        elif agent_id is not None:
            text = "Reconciliation: Both operation and agent are unknown"
        else:
            text = "Reconciliation: Operation is unknown and no 'agent_id' was provided"
        status: JSON = {
            "operation_id": entry["operation_id"],
            "state": "OPERATION_UNKNOWN",
            "message": text,
        }
        if agent_id is not None:
            status["agent_id"] = {"value": agent_id}
        if "resource_provider_id" in entry:
            status["resource_provider_id"] = entry["resource_provider_id"]
        framework.send(
            {"type": "UPDATE_OPERATION_STATUS", "update_operation_status": {"status": status}}
        )


def acknowledge_operation_status(master: Master, framework: Framework, body: JSON) -> None:
    """`Master::acknowledgeOperationStatus`: no operation of the dev master awaits one."""
    log.warning(
        "framework %s: acknowledgement of operation %s ignored: the operation is unknown",
        framework.id,
        body["operation_id"]["value"],
    )
