"""AWS S3: each new key of a bucket (or of `bucket/prefix`) becomes HIPPO_DATA."""

from hippo.shared.sources.aws import AWS_PARAMS
from hippo.shared.sources.base import Param, Source


def _check_bucket(value: str) -> None:
    if not value.split("/", 1)[0]:
        raise ValueError("must name a bucket, optionally followed by /prefix")


class S3BucketSource(Source):
    namespace = "s3bucket"
    label = "AWS S3"
    params = (
        *AWS_PARAMS,
        Param("bucket_name", label="Bucket, or bucket/prefix", check=_check_bucket),
        Param("earliest_unix_tstamp", type="int", default=0,
              label="Ignore keys modified before this unix time"),
    )
