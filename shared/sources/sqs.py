"""AWS SQS: each message body becomes HIPPO_DATA."""

from hippo.shared.sources.aws import AWS_PARAMS
from hippo.shared.sources.base import Param, Source


class SqsSource(Source):
    namespace = "sqs"
    label = "AWS SQS"
    params = (*AWS_PARAMS, Param("queuename", label="SQS queue name"))
