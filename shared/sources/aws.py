"""Parameters shared by the AWS sources."""

from hippo.shared.sources.base import Param

# Empty key and secret mean boto3's default credential chain (instance role, env...).
AWS_PARAMS = (
    Param("awskey", default="", label="AWS access key id (empty: default credentials)"),
    Param("awssecret", default="", secret=True, label="AWS secret access key"),
    Param("awsregion", default="us-east-1", label="AWS region"),
    Param("endpoint_url", default="", label="Endpoint URL of an AWS-compatible server"),
)
