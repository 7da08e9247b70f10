"""Which IAM action on which resource ARN each AWS API call needs (the Service Authorization
Reference, for the operations the relay and Lambda's event source mapping make).

An operation that is not in `_RULES` is refused (`UnmappedOperation`), never allowed by default:
when the relay starts calling something new, add its rule here and the permission to template.yaml.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse


class UnmappedOperation(LookupError):
    pass


@dataclass(frozen=True)
class Need:
    """One authorization a call needs: `action` on `resource`."""

    action: str
    resource: str


@dataclass(frozen=True)
class Where:
    region: str
    account: str
    partition: str = "aws"


# -- resource ARNs -------------------------------------------------------------------------------
def bucket_arn(bucket: str, where: Where) -> str:
    return f"arn:{where.partition}:s3:::{bucket}"


def object_arn(bucket: str, key: str, where: Where) -> str:
    return f"arn:{where.partition}:s3:::{bucket}/{key}"


def table_arn(table: str, where: Where, index: str | None = None) -> str:
    arn = table if table.startswith("arn:") else f"arn:{where.partition}:dynamodb:{where.region}:{where.account}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


def queue_arn(queue_url: str, where: Where) -> str:
    """https://sqs.<region>.amazonaws.com/<account>/<name> (or a local endpoint's /<account>/<name>)."""
    parts = [p for p in urlparse(queue_url).path.split("/") if p]
    if len(parts) != 2:
        raise ValueError(f"not a queue URL: {queue_url!r}")
    account, name = parts
    return f"arn:{where.partition}:sqs:{where.region}:{account}:{name}"


def parameter_arn(name: str, where: Where) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:{where.partition}:ssm:{where.region}:{where.account}:parameter{name if name.startswith('/') else '/' + name}"


# -- rules per operation -------------------------------------------------------------------------
Rule = Callable[[dict[str, Any], Where], list[Need]]


def _s3_read(p: dict[str, Any], w: Where) -> list[Need]:
    action = "s3:GetObjectVersion" if p.get("VersionId") else "s3:GetObject"
    return [Need(action, object_arn(p["Bucket"], p["Key"], w))]


def _s3_object(action: str) -> Rule:
    return lambda p, w: [Need(action, object_arn(p["Bucket"], p["Key"], w))]


def _s3_bucket(action: str) -> Rule:
    return lambda p, w: [Need(action, bucket_arn(p["Bucket"], w))]


def _s3_delete(p: dict[str, Any], w: Where) -> list[Need]:
    return [Need("s3:DeleteObjectVersion" if p.get("VersionId") else "s3:DeleteObject", object_arn(p["Bucket"], p["Key"], w))]


def _s3_copy(p: dict[str, Any], w: Where) -> list[Need]:
    src = p["CopySource"]
    if isinstance(src, str):
        path, _, query = src.lstrip("/").partition("?versionId=")
        bucket, key = path.split("/", 1)
        version = query or None
    else:
        bucket, key, version = src["Bucket"], src["Key"], src.get("VersionId")
    return [
        Need("s3:GetObjectVersion" if version else "s3:GetObject", object_arn(bucket, key, w)),
        Need("s3:PutObject", object_arn(p["Bucket"], p["Key"], w)),
    ]


def _ddb(action: str) -> Rule:
    return lambda p, w: [Need(action, table_arn(p["TableName"], w, p.get("IndexName")))]


def _ddb_batch(action: str) -> Rule:
    return lambda p, w: [Need(action, table_arn(t, w)) for t in p["RequestItems"]]


_TRANSACT = {
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "Get": "dynamodb:GetItem",
}


def _ddb_transact(p: dict[str, Any], w: Where) -> list[Need]:
    needs = []
    for item in p["TransactItems"]:
        ((kind, body),) = item.items()
        needs.append(Need(_TRANSACT[kind], table_arn(body["TableName"], w)))
    return needs


def _sqs(action: str) -> Rule:
    return lambda p, w: [Need(action, queue_arn(p["QueueUrl"], w))]


def _sqs_by_name(action: str) -> Rule:
    return lambda p, w: [Need(action, f"arn:{w.partition}:sqs:{w.region}:{p.get('QueueOwnerAWSAccountId') or w.account}:{p['QueueName']}")]


def _ssm_one(action: str) -> Rule:
    return lambda p, w: [Need(action, parameter_arn(p["Name"], w))]


def _ssm_many(p: dict[str, Any], w: Where) -> list[Need]:
    return [Need("ssm:GetParameters", parameter_arn(n, w)) for n in p["Names"]]


def _anywhere(action: str) -> Rule:
    return lambda p, w: [Need(action, "*")]


_RULES: dict[tuple[str, str], Rule] = {
    # S3 (HeadObject is authorized as GetObject; a multipart upload as PutObject)
    ("s3", "GetObject"): _s3_read,
    ("s3", "HeadObject"): _s3_read,
    ("s3", "PutObject"): _s3_object("s3:PutObject"),
    ("s3", "CreateMultipartUpload"): _s3_object("s3:PutObject"),
    ("s3", "UploadPart"): _s3_object("s3:PutObject"),
    ("s3", "CompleteMultipartUpload"): _s3_object("s3:PutObject"),
    ("s3", "AbortMultipartUpload"): _s3_object("s3:AbortMultipartUpload"),
    ("s3", "CopyObject"): _s3_copy,
    ("s3", "DeleteObject"): _s3_delete,
    ("s3", "GetObjectTagging"): _s3_object("s3:GetObjectTagging"),
    ("s3", "ListObjectsV2"): _s3_bucket("s3:ListBucket"),
    ("s3", "ListObjects"): _s3_bucket("s3:ListBucket"),
    ("s3", "HeadBucket"): _s3_bucket("s3:ListBucket"),
    ("s3", "ListObjectVersions"): _s3_bucket("s3:ListBucketVersions"),
    # DynamoDB (Query/Scan on an index need the index ARN)
    **{
        ("dynamodb", op): _ddb(f"dynamodb:{op}")
        for op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable")
    },
    ("dynamodb", "BatchWriteItem"): _ddb_batch("dynamodb:BatchWriteItem"),
    ("dynamodb", "BatchGetItem"): _ddb_batch("dynamodb:BatchGetItem"),
    ("dynamodb", "TransactWriteItems"): _ddb_transact,
    ("dynamodb", "TransactGetItems"): _ddb_transact,
    # SQS (the batch operations are authorized as their single forms)
    ("sqs", "SendMessage"): _sqs("sqs:SendMessage"),
    ("sqs", "SendMessageBatch"): _sqs("sqs:SendMessage"),
    ("sqs", "ReceiveMessage"): _sqs("sqs:ReceiveMessage"),
    ("sqs", "DeleteMessage"): _sqs("sqs:DeleteMessage"),
    ("sqs", "DeleteMessageBatch"): _sqs("sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibility"): _sqs("sqs:ChangeMessageVisibility"),
    ("sqs", "ChangeMessageVisibilityBatch"): _sqs("sqs:ChangeMessageVisibility"),
    ("sqs", "GetQueueAttributes"): _sqs("sqs:GetQueueAttributes"),
    ("sqs", "PurgeQueue"): _sqs("sqs:PurgeQueue"),
    ("sqs", "GetQueueUrl"): _sqs_by_name("sqs:GetQueueUrl"),
    # DynamoDB Streams (Lambda's event source mapping reads a stream with the function's role)
    **{
        ("dynamodbstreams", op): (lambda a: lambda p, w: [Need(a, p["StreamArn"])])(f"dynamodb:{op}")
        for op in ("DescribeStream", "GetShardIterator", "GetRecords")
    },
    # SSM parameters (Powertools' SSMProvider)
    ("ssm", "GetParameter"): _ssm_one("ssm:GetParameter"),
    ("ssm", "GetParameters"): _ssm_many,
    ("ssm", "GetParametersByPath"): lambda p, w: [Need("ssm:GetParametersByPath", parameter_arn(p["Path"], w))],
    # CloudWatch metrics (PutMetricData has no resource-level permissions)
    ("cloudwatch", "PutMetricData"): _anywhere("cloudwatch:PutMetricData"),
    ("sts", "GetCallerIdentity"): _anywhere("sts:GetCallerIdentity"),
}

#: botocore service names whose IAM prefix differs
_PREFIX = {"monitoring": "cloudwatch"}


def needs(service: str, operation: str, params: dict[str, Any], where: Where) -> list[Need]:
    """What a call of `service`.`operation` with `params` (as the caller passed them) must be
    allowed. Raises UnmappedOperation for an operation without a rule."""
    service = _PREFIX.get(service, service)
    rule = _RULES.get((service, operation))
    if rule is None:
        raise UnmappedOperation(f"relay_local.dev.iam_actions has no IAM rule for {service}.{operation}: add one (and the permission)")
    return rule(params, where)
