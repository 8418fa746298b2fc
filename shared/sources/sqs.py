"""AWS SQS: each message body becomes HIPPO_DATA.

A poll receives up to 10 messages a call until it has its limit or the queue answers
none; messages are deleted (DeleteMessageBatch, 10 at a time) only after their tasks are
stored. The message id is the idempotency key: SQS standard queues may deliver a message
twice, and a poll that dies before deleting lets them come back after the visibility
timeout; either way no second task is made. A message received twice within one poll (a
visibility timeout shorter than the poll) is one item.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Annotated, Any

from pydantic import Field

from hippo.shared.sources.aws import AwsClients, AwsSettings, aws_error
from hippo.shared.sources.base import BlockingSource, Fetched, Item, PollRequest, SourceError
from hippo.shared.sources.settings import Text

RECEIVE_MAX = 10  # SQS's limit per ReceiveMessage and per DeleteMessageBatch


class SqsSettings(AwsSettings):
    queuename: Annotated[
        Text,
        Field(
            title="SQS queue name",
            description="Each message is one item, deleted once its task is stored.",
        ),
    ]


class SqsSource(BlockingSource):
    namespace = "sqs"
    label = "AWS SQS"
    settings_model = SqsSettings

    def __init__(self, executor: Executor | None = None) -> None:
        super().__init__(executor)
        self._clients = AwsClients()
        self._urls: dict[tuple[str, ...], str] = {}

    def _queue_url(self, client: Any, request: PollRequest[SqsSettings]) -> str:
        s = request.settings
        key = (s.awskey, s.awsregion, s.endpoint_url, s.queuename)
        url = self._urls.get(key)
        if url is None:
            try:
                url = str(client.get_queue_url(QueueName=s.queuename)["QueueUrl"])
            except Exception as e:
                raise aws_error(f"sqs queue {s.queuename!r}", e) from e
            self._urls[key] = url
        return url

    def fetch_blocking(self, request: PollRequest[SqsSettings]) -> Fetched:
        client = self._clients.get("sqs", request.settings)
        url = self._queue_url(client, request)
        items: list[Item] = []
        # Message id -> its latest receipt handle (SQS deletes reliably only with the
        # latest). A visibility timeout shorter than the poll hands the same messages
        # out again and again: each is one item, and a call bringing nothing new ends
        # the poll.
        handles: dict[str, str] = {}
        while len(items) < request.limit:
            try:
                answer = client.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(RECEIVE_MAX, request.limit - len(items)),
                    WaitTimeSeconds=0,
                )
            except Exception as e:
                self._urls.clear()  # the queue may have been recreated under a new URL
                if items:
                    break  # keep what was received; they are stored, then deleted
                raise aws_error(f"sqs queue {request.settings.queuename!r}", e) from e
            new = 0
            for message in answer.get("Messages", []):
                message_id = message["MessageId"]
                if message_id not in handles:
                    items.append(Item(data=message.get("Body", ""), key=message_id))
                    new += 1
                handles[message_id] = message["ReceiptHandle"]
            if new == 0:
                break
        return Fetched(items=items, receipt=(url, list(handles.items())))

    def acknowledge_blocking(self, request: PollRequest[SqsSettings], fetched: Fetched) -> None:
        url, handles = fetched.receipt
        client = self._clients.get("sqs", request.settings)
        failed: list[str] = []
        for i in range(0, len(handles), RECEIVE_MAX):
            chunk = handles[i : i + RECEIVE_MAX]
            entries = [
                {"Id": str(n), "ReceiptHandle": handle} for n, (_, handle) in enumerate(chunk)
            ]
            try:
                answer = client.delete_message_batch(QueueUrl=url, Entries=entries)
            except Exception as e:
                raise aws_error(f"sqs queue {request.settings.queuename!r}: delete", e) from e
            # A 200 answer may still list entries that were not deleted.
            failed += [
                f"{chunk[int(f['Id'])][0]} ({f.get('Code', '?')})" for f in answer.get("Failed", [])
            ]
        if failed:
            raise SourceError(
                f"sqs queue {request.settings.queuename!r}: {len(failed)} "
                f"messages not deleted (they will come again and be skipped): "
                + ", ".join(failed[:5])
            )

    def close_blocking(self) -> None:
        self._clients.clear()
