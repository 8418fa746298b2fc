"""Parameters and clients shared by the AWS sources."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from pydantic import Field

from hippo.shared.sources.base import SourceError
from hippo.shared.sources.settings import Secret, SourceSettings, Text


class AwsSettings(SourceSettings):
    """What every AWS source needs. Empty key and secret mean boto3's default credential
    chain (instance role, environment...)."""

    awskey: Annotated[
        Text,
        Field(
            title="AWS access key id (empty: default credentials)",
            description="Empty: boto3's default chain (instance role, environment, ~/.aws).",
        ),
    ] = ""
    awssecret: Annotated[
        Secret,
        Field(
            title="AWS secret access key",
            description="The key id's secret; empty with an empty key id.",
        ),
    ] = ""
    awsregion: Annotated[
        Text,
        Field(title="AWS region", description="Where the queue or bucket lives, e.g. eu-west-1."),
    ] = "us-east-1"
    endpoint_url: Annotated[
        Text,
        Field(
            title="Endpoint URL of an AWS-compatible server",
            description="Empty for AWS itself; e.g. http://minio:9000 or a moto server.",
        ),
    ] = ""


class AwsClients:
    """boto3 clients cached by service and settings (boto3 clients are thread-safe;
    creating one costs tens of milliseconds)."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, ...], Any] = {}
        self._lock = threading.Lock()

    def get(self, service: str, settings: AwsSettings) -> Any:
        key = (
            service,
            settings.awskey,
            settings.awssecret,
            settings.awsregion,
            settings.endpoint_url,
        )
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                import boto3
                from botocore.config import Config

                client = boto3.session.Session().client(
                    service,
                    region_name=settings.awsregion or None,
                    endpoint_url=settings.endpoint_url or None,
                    aws_access_key_id=settings.awskey or None,
                    aws_secret_access_key=settings.awssecret or None,
                    config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
                )
                self._clients[key] = client
            return client

    def clear(self) -> None:
        with self._lock:
            self._clients.clear()


def aws_error(what: str, error: Exception) -> SourceError:
    """A boto3/botocore error as a SourceError naming what failed (no credentials in it)."""
    code = (
        getattr(error, "response", {}).get("Error", {}).get("Code")
        if hasattr(error, "response")
        else None
    )
    detail = f"{code}: {error}" if code else f"{type(error).__name__}: {error}"
    return SourceError(f"{what}: {detail}")
