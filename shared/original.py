"""What the original Hippo (Hobsons/hippo) wrote into its own records, and how it
described its queue types: the facts old clients depend on.

Sources: the original's task records (`tasks.py`, `scheduler.py`), queue records
(`queues.py`, `data_sources/*.py`) and `/queuetypes/` answer (`api.py`); docs/migrating.md
says what Hippo keeps of each.
"""

from __future__ import annotations

# Fields the original wrote into a task record besides its definition. A client that
# sends a record it read back as a new task (the original page's "re-run") has them
# ignored; any other unknown field is still refused (it is most likely a typo).
TASK_RECORD_FIELDS = ("mesos_id", "mesos_state", "mesos_agent", "mesos_status", "status_tstamp")

# Fields the original wrote at the top of a queue record (older versions kept the poll
# time there) and in its `queue` block (poll bookkeeping of the sources).
QUEUE_RECORD_FIELDS = ("last_run_tstamp",)
QUEUE_BLOCK_RECORD_FIELDS = (
    "last_run_tstamp",
    "last_task_queued_tstamp",
    "last_s3key_processed_tstamp",
)

# The `input` of a queue type's parameter on the original's /queuetypes/: the HTML input
# type its page builds the form with, by our parameter type. A secret is a password
# field (the original showed its secrets as text). A boolean is a checkbox (the
# original had none).
INPUT_TYPES = {"str": "text", "int": "number", "float": "number", "bool": "checkbox"}
SECRET_INPUT = "password"
