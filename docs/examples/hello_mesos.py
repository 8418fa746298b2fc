"""Launch `echo hello` through Hippo's Mesos client and print what comes back.

    hippo devmaster --port 5050 &
    python docs/examples/hello_mesos.py 127.0.0.1:5050

Works against a real Mesos master too (the sandbox URL is the dev master's).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

import httpx

from hippo.worker.mesos import FrameworkSettings, MesosSchedulerClient, Offers, Update
from hippo.worker.mesos.messages import offer_role, task_info


async def main(master: str) -> None:
    settings = FrameworkSettings(name="hello", user="nobody", roles=["*"])
    task_id = f"hello.{uuid.uuid4().hex[:8]}"
    async with MesosSchedulerClient(master, settings) as client:
        framework_id = await client.wait_subscribed(timeout_s=10)
        print(f"subscribed as framework {framework_id}")
        launched = False
        async for event in client.events():
            if isinstance(event, Offers) and launched:
                await client.decline([o["id"]["value"] for o in event.offers], refuse_s=60)
            elif isinstance(event, Offers):
                launched = True
                offer = event.offers[0]
                task = task_info(
                    task_id=task_id,
                    name="hello",
                    agent_id=offer["agent_id"]["value"],
                    command="echo hello",
                    cpus=0.1,
                    mem_mb=32,
                    allocation_role=offer_role(offer),
                )
                await client.launch([offer["id"]["value"]], [task])
                await client.decline([o["id"]["value"] for o in event.offers[1:]], refuse_s=60)
                print(f"launched {task_id} on {offer['hostname']}")
            elif isinstance(event, Update):
                status = event.status
                print(f"update: {status.task_id} {status.state}")
                await client.acknowledge_update(event)
                if status.terminal:
                    print(json.dumps(status.raw, indent=2))
                    break
    async with httpx.AsyncClient() as http:
        stdout = await http.get(f"http://{master}/sandbox/{task_id}/stdout")
    print(f"sandbox stdout: {stdout.text!r}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:5050"))
