"""template.yaml: lint-clean, and holding the contract every tool and test relies on."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from relay_local.template import functions, template

ROOT = Path(__file__).resolve().parents[1]


def test_given_the_template_when_linted_with_cfn_lint_then_it_is_clean():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(ROOT / "template.yaml")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_given_the_template_then_the_contract_logical_ids_exist_with_their_types():
    resources = template()["Resources"]
    expected = {
        "MediaBucket": "AWS::S3::Bucket",
        "PushLogTable": "AWS::DynamoDB::Table",
        "SendQueue": "AWS::SQS::Queue",
        "SendDeadLetterQueue": "AWS::SQS::Queue",
        "IngestFunction": "AWS::Serverless::Function",
        "SenderFunction": "AWS::Serverless::Function",
        "ApiFunction": "AWS::Serverless::Function",
        "IdempotencyTable": "AWS::DynamoDB::Table",
    }
    assert {k: resources[k]["Type"] for k in expected} == expected
    redrive = resources["SendQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["SendDeadLetterQueue", "Arn"]}


def test_given_the_functions_then_they_get_the_contract_environment():
    contract = {"MEDIA_BUCKET", "PUSH_LOG_TABLE", "SEND_QUEUE_URL", "PICKY_API_URL", "PICKY_APPLICATION",
                "PICKY_TOKEN_PARAMETER", "PRESIGN_TTL_SECONDS", "RECIPIENTS_PER_PUSH",
                "SIGNING_SECRET_PARAMETER", "EVENTS_SECRET_PARAMETER"}
    for spec in functions().values():
        assert contract <= set(spec.environment), spec.logical_id
        # secrets themselves never sit in the template (local-only overrides)
        assert not {"PICKY_TOKEN", "SIGNING_SECRET", "EVENTS_SECRET"} & set(spec.environment)
    assert template()["Parameters"]["PickyApplication"]["Default"] == 8
    assert template()["Parameters"]["RecipientsPerPush"]["Default"] == 100


def test_given_s3_uploads_then_they_reach_ingest_through_a_queue_for_both_prefixes():
    bucket = template()["Resources"]["MediaBucket"]["Properties"]
    rules = [c["Filter"]["S3Key"]["Rules"][0]["Value"] for c in bucket["NotificationConfiguration"]["QueueConfigurations"]]
    assert sorted(rules) == ["manifests/", "outbox/"]
    [ingest_source] = functions()["IngestFunction"].sqs_sources
    assert ingest_source.queue == "IngestQueue" and ingest_source.partial_failures and ingest_source.batch_size > 10
    [send_source] = functions()["SenderFunction"].sqs_sources
    assert send_source.queue == "SendQueue" and send_source.partial_failures


def test_given_the_handlers_in_the_template_then_each_resolves_to_a_callable():
    import importlib

    for spec in functions().values():
        module, name = spec.handler.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name)), spec.handler
        assert (ROOT / "functions" / module.split(".")[0]).is_dir()


def test_given_the_lambda_bundle_then_its_requirements_match_the_runtime_dependencies():
    def names(lines):
        return {re.split(r"[<>=!~\[ ]", line.strip(), maxsplit=1)[0].lower() for line in lines if line.strip() and not line.startswith("#")}

    bundle = names((ROOT / "functions" / "requirements.txt").read_text().splitlines())
    project = names(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    # boto3 ships with the Lambda runtime; nothing local-only (moto, yaml, pytest) goes into the bundle
    assert bundle == project - {"boto3"}


def test_given_the_api_function_then_it_serves_the_three_routes():
    routes = {(r.method, r.path) for r in functions()["ApiFunction"].api_routes}
    assert routes == {("POST", "/pushes"), ("GET", "/pushes/{id}"), ("POST", "/events/{secret}")}


def test_given_the_media_bucket_then_it_is_private_encrypted_and_tls_only():
    resources = template()["Resources"]
    bucket = resources["MediaBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
    [deny] = resources["MediaBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_given_the_functions_then_their_policies_name_actions_and_resources_not_wildcards():
    for spec_id in ("IngestFunction", "SenderFunction", "ApiFunction"):
        policies = template()["Resources"][spec_id]["Properties"]["Policies"]
        for policy in policies:
            assert set(policy) == {"Statement"}, f"{spec_id} uses a broad SAM policy template: {set(policy)}"
            for statement in policy["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert all("*" not in a for a in actions), (spec_id, actions)
                assert statement["Resource"] != "*", spec_id


def test_given_the_sender_then_its_concurrency_is_capped_and_alarms_watch_dead_letters_and_the_account():
    jobs = template()["Resources"]["SenderFunction"]["Properties"]["Events"]["Jobs"]["Properties"]
    assert jobs["ScalingConfig"]["MaximumConcurrency"] == 2
    alarms = {k: v["Properties"] for k, v in template()["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    watched = {a["MetricName"] + ":" + str(a["Dimensions"][0]["Value"]) for a in alarms.values()}
    assert "ApproximateNumberOfMessagesVisible:{'Fn::GetAtt': ['SendDeadLetterQueue', 'QueueName']}" in watched
    assert "ApproximateNumberOfMessagesVisible:{'Fn::GetAtt': ['IngestDeadLetterQueue', 'QueueName']}" in watched
    assert "VendorAccountFailures:picky-relay" in watched
