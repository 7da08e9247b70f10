"""The functions' roles after the SAM transform, and the IAM evaluator (relay_local.dev.iam_roles)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from relay_local.dev.iam import AccessDenied, Enforcer, UnmappedCall
from relay_local.dev.iam_roles import evaluate, revoke, roles, transformed
from relay_local.dev.stack import ACCOUNT, LocalStack
from relay_local.template import Resolver, parameter_defaults, template

REGION = "us-east-1"
BUCKET = "arn:aws:s3:::stk-mediabucket"


def resolver() -> Resolver:
    """The names `create_stack` gives template.yaml's resources, without a server."""
    refs = {
        **parameter_defaults(),
        "AWS::AccountId": ACCOUNT,
        "AWS::Region": REGION,
        "AWS::Partition": "aws",
        "AWS::StackName": "stk",
        "AWS::URLSuffix": "amazonaws.com",
    }
    attrs = {}
    for logical_id, res in template()["Resources"].items():
        kind = res["Type"]
        if kind == "AWS::SQS::Queue":
            refs[logical_id] = f"http://127.0.0.1:1/{ACCOUNT}/stk-{logical_id}"
            attrs[(logical_id, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:stk-{logical_id}"
            attrs[(logical_id, "QueueName")] = f"stk-{logical_id}"
        elif kind == "AWS::DynamoDB::Table":
            refs[logical_id] = f"stk-{logical_id}"
            attrs[(logical_id, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/stk-{logical_id}"
            attrs[(logical_id, "StreamArn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/stk-{logical_id}/stream/2026-01-01T00:00:00.000"
        elif kind == "AWS::S3::Bucket":
            refs[logical_id] = f"stk-{logical_id}".lower()
            attrs[(logical_id, "Arn")] = f"arn:aws:s3:::stk-{logical_id}".lower()
    return Resolver(refs, attrs)


def queue(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:stk-{name}"


def table(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/stk-{name}"


# -- the evaluator -----------------------------------------------------------------------------
def allow(action, resource="*", **extra):
    return {"Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}]}


@pytest.mark.parametrize(
    ("policy", "action", "resource", "decision"),
    [
        (allow("s3:GetObject", "arn:aws:s3:::b/*"), "s3:GetObject", "arn:aws:s3:::b/media/x.png", "allow"),
        (allow("s3:GetObject", "arn:aws:s3:::b/*"), "s3:GetObject", "arn:aws:s3:::b", "implicit-deny"),  # the bucket is not an object
        (allow("s3:GetObject", "arn:aws:s3:::b/*"), "s3:GetObjectVersion", "arn:aws:s3:::b/x", "implicit-deny"),
        (allow("S3:get*", "arn:aws:s3:::b/*"), "s3:GetObjectVersion", "arn:aws:s3:::b/x", "allow"),  # actions ignore case
        (allow("s3:GetObject", "arn:aws:s3:::B/*"), "s3:GetObject", "arn:aws:s3:::b/x", "implicit-deny"),  # resources do not
        (allow("sqs:SendMessage", "arn:aws:sqs:*:*:q?"), "sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q1", "allow"),
        (allow("sqs:SendMessage", "arn:aws:sqs:*:*:q?"), "sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q12", "implicit-deny"),
        (
            allow("sqs:SendMessage", "arn:aws:sqs:*:*:q.1"),
            "sqs:SendMessage",
            "arn:aws:sqs:us-east-1:1:qx1",
            "implicit-deny",
        ),  # . is literal
        (allow(["dynamodb:Query"], ["arn:t", "arn:t/index/*"]), "dynamodb:Query", "arn:t/index/ByNumber", "allow"),
        (allow("dynamodb:Query", "arn:t"), "dynamodb:Query", "arn:t/index/ByNumber", "implicit-deny"),
        ({"Statement": [{"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}]}, "s3:DeleteObject", "arn:x", "implicit-deny"),
        ({"Statement": [{"Effect": "Allow", "NotAction": "s3:Delete*", "Resource": "*"}]}, "s3:GetObject", "arn:x", "allow"),
        (
            {"Statement": [{"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/secret/*"}]},
            "s3:GetObject",
            "arn:aws:s3:::b/secret/k",
            "implicit-deny",
        ),
        ({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}, "s3:GetObject", "arn:x", "allow"),  # one statement, no list
        (allow("s3:*", Condition={"Bool": {"aws:SecureTransport": "true"}}), "s3:GetObject", "arn:x", "implicit-deny"),
    ],
)
def test_given_a_policy_then_the_evaluator_decides_as_iam_does(policy, action, resource, decision):
    assert evaluate([policy], action, resource) == decision


def test_given_an_allow_and_an_explicit_deny_then_the_deny_wins_even_with_a_condition():
    deny = {"Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    assert evaluate([allow("s3:GetObject"), deny], "s3:GetObject", "arn:aws:s3:::b/k") == "explicit-deny"
    assert evaluate([allow("s3:GetObject")], "s3:GetObject", "arn:aws:s3:::b/k") == "allow"


# -- the roles as deployed ---------------------------------------------------------------------
def test_given_the_template_then_each_function_has_its_sam_role_with_the_managed_policies_sam_attaches():
    found = roles(transformed(), resolver())
    assert set(found) == {"ApiFunction", "IngestFunction", "SenderFunction", "ResultsFunction"}
    for fn, role in found.items():
        assert role.logical_id == f"{fn}Role"
        assert role.allows("logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/x:*"), fn
    # the SQS event sources bring AWSLambdaSQSQueueExecutionRole: receive/delete, but no visibility change
    sender, ingest, api = found["SenderFunction"], found["IngestFunction"], found["ApiFunction"]
    assert sender.allows("sqs:ReceiveMessage", queue("SendQueue")) and ingest.allows("sqs:DeleteMessage", queue("IngestQueue"))
    assert not api.allows("sqs:ReceiveMessage", queue("SendQueue"))
    assert not ingest.allows("sqs:ChangeMessageVisibility", queue("IngestQueue"))


def test_given_the_sender_role_then_it_may_return_jobs_to_its_queue_and_dead_letter_them_but_nothing_more():
    sender = roles(transformed(), resolver())["SenderFunction"]
    assert sender.allows("sqs:ChangeMessageVisibility", queue("SendQueue"))
    assert not sender.allows("sqs:ChangeMessageVisibility", queue("IngestQueue"))
    assert sender.allows("sqs:SendMessage", queue("SendDeadLetterQueue"))
    assert sender.allows("s3:GetObject", f"{BUCKET}/outbox/447700900123/a.pdf")
    assert not sender.allows("s3:PutObject", f"{BUCKET}/outbox/447700900123/a.pdf")
    assert sender.allows("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/picky-relay/token")
    assert not sender.allows("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/picky-relay/signing-secret")


def test_given_the_results_role_then_it_reads_the_ledger_stream_and_by_object_and_writes_only_under_results():
    results = roles(transformed(), resolver())["ResultsFunction"]
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/stk-PushLogTable"
    # the DynamoDB event source brings AWSLambdaDynamoDBExecutionRole (stream reads)
    assert results.allows("dynamodb:GetRecords", f"{table}/stream/2026-01-01T00:00:00.000")
    assert results.allows("dynamodb:Query", f"{table}/index/ByObject") and not results.allows("dynamodb:Query", f"{table}/index/ByNumber")
    assert results.allows("s3:PutObject", f"{BUCKET}/results/manifests/m.csv")
    assert not results.allows("s3:PutObject", f"{BUCKET}/manifests/m.csv") and not results.allows(
        "s3:PutObject", f"{BUCKET}/outbox/1/a.json"
    )
    assert not results.allows("dynamodb:PutItem", table)


def test_given_the_roles_then_none_may_list_the_bucket_and_the_api_writes_only_under_api_media():
    found = roles(transformed(), resolver())
    assert not any(r.allows("s3:ListBucket", BUCKET) for r in found.values())
    api = found["ApiFunction"]
    assert api.allows("s3:PutObject", f"{BUCKET}/api-media/x/y.pdf") and not api.allows("s3:PutObject", f"{BUCKET}/outbox/1/y.pdf")
    assert api.allows("dynamodb:Query", table("PushLogTable") + "/index/ByReference")
    assert not found["IngestFunction"].allows("dynamodb:Query", table("PushLogTable"))


def test_given_a_revoked_action_then_the_role_loses_it_and_keeps_the_rest():
    doc = revoke(transformed(), "SenderFunction", "sqs:ChangeMessageVisibility")
    sender = roles(doc, resolver())["SenderFunction"]
    assert not sender.allows("sqs:ChangeMessageVisibility", queue("SendQueue"))
    assert sender.allows("sqs:SendMessage", queue("SendQueue"))
    sqs_policy = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
    assert not roles(revoke(transformed(), "IngestFunction", sqs_policy), resolver())["IngestFunction"].allows(
        "sqs:ReceiveMessage", queue("IngestQueue")
    )
    with pytest.raises(KeyError):
        revoke(transformed(), "IngestFunction", "sqs:PurgeQueue")


# -- the enforcer's answers --------------------------------------------------------------------
def enforcer(doc=None) -> Enforcer:
    return Enforcer(LocalStack(name="stk", region=REGION, endpoint="http://127.0.0.1:1", resolver=resolver()), doc=doc)


def test_given_a_call_the_role_does_not_allow_then_it_gets_the_answer_aws_gives():
    check = enforcer()
    check.check("IngestFunction", "s3", "GetObject", {"Bucket": "stk-mediabucket", "Key": "media/a.png"})
    with pytest.raises(AccessDenied) as denied:
        check.check("IngestFunction", "dynamodb", "Query", {"TableName": "stk-PushLogTable", "IndexName": "ByNumber"})
    err = denied.value.response
    assert err["Error"]["Code"] == "AccessDeniedException" and err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert (
        "is not authorized to perform: dynamodb:Query on resource: " + table("PushLogTable") + "/index/ByNumber" in err["Error"]["Message"]
    )
    assert "assumed-role/stk-IngestFunctionRole/stk-IngestFunction" in err["Error"]["Message"]
    with pytest.raises(ClientError) as s3_denied:
        check.check("ApiFunction", "s3", "PutObject", {"Bucket": "stk-mediabucket", "Key": "outbox/1/x.pdf"})
    assert s3_denied.value.response["Error"]["Code"] == "AccessDenied"
    assert [(c.action, c.decision) for c in check.calls] == [
        ("s3:GetObject", "allow"),
        ("dynamodb:Query", "implicit-deny"),
        ("s3:PutObject", "implicit-deny"),
    ]


def test_given_an_operation_without_a_rule_then_the_call_is_refused_as_access_denied():
    with pytest.raises(UnmappedCall) as refused:
        enforcer().check("SenderFunction", "sqs", "PurgeQueueEverywhere", {})
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert "no IAM rule for sqs.PurgeQueueEverywhere" in refused.value.response["Error"]["Message"]


def test_given_a_managed_policy_named_without_its_arn_then_the_transform_finds_it():
    from relay_local.dev.iam_roles import transform

    doc = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Handler": "a.b", "Runtime": "python3.12", "CodeUri": "functions/", "Policies": ["AmazonS3ReadOnlyAccess"]},
            }
        },
    }
    [role] = roles(transform(doc), resolver()).values()
    assert role.allows("s3:GetObject", "arn:aws:s3:::any/key") and not role.allows("s3:PutObject", "arn:aws:s3:::any/key")
