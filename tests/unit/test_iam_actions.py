"""Which IAM action on which resource each AWS call needs (relay_local.dev.iam_actions)."""

from __future__ import annotations

import pytest

from relay_local.dev.iam_actions import Need, UnmappedOperation, Where, needs

W = Where(region="eu-west-1", account="111122223333")
TABLE = "arn:aws:dynamodb:eu-west-1:111122223333:table/"


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        (
            "s3",
            "GetObject",
            {"Bucket": "b", "Key": "media/a b.png", "Range": "bytes=0-9"},
            [Need("s3:GetObject", "arn:aws:s3:::b/media/a b.png")],
        ),
        ("s3", "GetObject", {"Bucket": "b", "Key": "k", "VersionId": "v1"}, [Need("s3:GetObjectVersion", "arn:aws:s3:::b/k")]),
        ("s3", "HeadObject", {"Bucket": "b", "Key": "k"}, [Need("s3:GetObject", "arn:aws:s3:::b/k")]),
        ("s3", "PutObject", {"Bucket": "b", "Key": "api-media/x"}, [Need("s3:PutObject", "arn:aws:s3:::b/api-media/x")]),
        ("s3", "CompleteMultipartUpload", {"Bucket": "b", "Key": "k", "UploadId": "u"}, [Need("s3:PutObject", "arn:aws:s3:::b/k")]),
        ("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "media/"}, [Need("s3:ListBucket", "arn:aws:s3:::b")]),
        (
            "s3",
            "CopyObject",
            {"Bucket": "d", "Key": "k2", "CopySource": {"Bucket": "s", "Key": "k1"}},
            [Need("s3:GetObject", "arn:aws:s3:::s/k1"), Need("s3:PutObject", "arn:aws:s3:::d/k2")],
        ),
        ("dynamodb", "Query", {"TableName": "log", "IndexName": "ByNumber"}, [Need("dynamodb:Query", TABLE + "log/index/ByNumber")]),
        ("dynamodb", "Query", {"TableName": "log"}, [Need("dynamodb:Query", TABLE + "log")]),
        ("dynamodb", "UpdateItem", {"TableName": TABLE + "other"}, [Need("dynamodb:UpdateItem", TABLE + "other")]),
        (
            "dynamodb",
            "BatchWriteItem",
            {"RequestItems": {"a": [], "b": []}},
            [Need("dynamodb:BatchWriteItem", TABLE + "a"), Need("dynamodb:BatchWriteItem", TABLE + "b")],
        ),
        (
            "dynamodb",
            "TransactWriteItems",
            {"TransactItems": [{"ConditionCheck": {"TableName": "a"}}, {"Put": {"TableName": "b"}}, {"Delete": {"TableName": "a"}}]},
            [
                Need("dynamodb:ConditionCheckItem", TABLE + "a"),
                Need("dynamodb:PutItem", TABLE + "b"),
                Need("dynamodb:DeleteItem", TABLE + "a"),
            ],
        ),
        (
            "sqs",
            "SendMessageBatch",
            {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/111122223333/q", "Entries": []},
            [Need("sqs:SendMessage", "arn:aws:sqs:eu-west-1:111122223333:q")],
        ),
        (
            "sqs",
            "DeleteMessageBatch",
            {"QueueUrl": "http://127.0.0.1:4566/123456789012/q", "Entries": []},
            [Need("sqs:DeleteMessage", "arn:aws:sqs:eu-west-1:123456789012:q")],
        ),
        (
            "sqs",
            "ChangeMessageVisibility",
            {"QueueUrl": "http://localhost/111122223333/q"},
            [Need("sqs:ChangeMessageVisibility", "arn:aws:sqs:eu-west-1:111122223333:q")],
        ),
        ("sqs", "GetQueueUrl", {"QueueName": "q"}, [Need("sqs:GetQueueUrl", "arn:aws:sqs:eu-west-1:111122223333:q")]),
        (
            "ssm",
            "GetParameter",
            {"Name": "/picky-relay/token", "WithDecryption": True},
            [Need("ssm:GetParameter", "arn:aws:ssm:eu-west-1:111122223333:parameter/picky-relay/token")],
        ),
        ("ssm", "GetParameter", {"Name": "plain"}, [Need("ssm:GetParameter", "arn:aws:ssm:eu-west-1:111122223333:parameter/plain")]),
        ("monitoring", "PutMetricData", {"Namespace": "x"}, [Need("cloudwatch:PutMetricData", "*")]),
    ],
)
def test_given_a_call_then_it_needs_the_documented_action_on_its_resource(service, operation, params, expected):
    assert needs(service, operation, params, W) == expected


def test_given_an_operation_without_a_rule_then_it_is_refused_not_allowed_by_default():
    with pytest.raises(UnmappedOperation, match=r"sqs\.PurgeQueueEverywhere"):
        needs("sqs", "PurgeQueueEverywhere", {}, W)
    with pytest.raises(UnmappedOperation, match=r"s3\.DeleteBucket"):
        needs("s3", "DeleteBucket", {"Bucket": "b"}, W)
