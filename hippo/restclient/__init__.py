"""`hippo tasks …`, `hippo queues …`, `hippo queuetypes`: the REST API from a shell."""

from hippo.restclient.commands import register

__all__ = ["register"]
