"""What `GET /state` shows of a dev master: frameworks, agents and tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import JSON, Task

if TYPE_CHECKING:
    from .master import Master


def master_state(master: Master) -> JSON:
    def task_json(task: Task) -> JSON:
        return {
            "id": task.task_id,
            "name": task.name,
            "framework_id": task.framework_id,
            "agent_id": task.agent_id,
            "state": task.state,
            "resources": task.resources,
            "unacknowledged_updates": len(task.pending),
            "sandbox": str(task.sandbox) if task.sandbox else None,
        }

    return {
        "id": master.id,
        "hostname": master.config.hostname,
        "leader": master.config.redirect_to is None,
        "simulate_s": master.config.simulate_s,
        "docker": master.use_docker,
        "work_dir": str(master.work_dir),
        "frameworks": [
            {
                "id": f.id,
                "name": f.info.get("name"),
                "user": f.info.get("user"),
                "roles": f.roles,
                "connected": f.connected,
                "failover_timeout": f.info.get("failover_timeout", 0),
                "suppressed_roles": sorted(f.suppressed),
                # agent id -> seconds its refuse_seconds filter still runs
                "filters": {
                    agent_id: round(refused.until - master.loop.time(), 3)
                    for agent_id, refused in f.filters.items()
                    if refused.until > master.loop.time()
                },
                "offers": len(f.offers),
                "tasks": [task_json(t) for t in f.tasks.values()],
                "completed_tasks": list(f.completed),
            }
            for f in master.frameworks.values()
        ],
        "agents": [
            {
                "id": a.id,
                "hostname": a.hostname,
                "active": a.active,
                "link": a.link,
                "draining": a.draining,
                "resources": a.total,
                "used_resources": a.used,
                "offered_resources": a.offered,
                "attributes": a.attributes,
            }
            for a in master.agents.values()
        ],
        "tasks": [task_json(t) for f in master.frameworks.values() for t in f.tasks.values()],
    }
