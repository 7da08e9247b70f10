"""template.yaml: lint-clean, and holding the contract every tool and test relies on."""

from __future__ import annotations

import json
import re
import subprocess
import sys
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
    contract = {
        "MEDIA_BUCKET",
        "PUSH_LOG_TABLE",
        "SEND_QUEUE_URL",
        "PICKY_API_URL",
        "PICKY_APPLICATION",
        "PICKY_TOKEN_PARAMETER",
        "PRESIGN_TTL_SECONDS",
        "RECIPIENTS_PER_PUSH",
        "SIGNING_SECRET_PARAMETER",
        "EVENTS_SECRET_PARAMETER",
    }
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


def test_given_the_api_function_then_it_serves_the_five_routes():
    routes = {(r.method, r.path) for r in functions()["ApiFunction"].api_routes}
    assert routes == {
        ("POST", "/pushes"),
        ("GET", "/pushes/{id}"),
        ("POST", "/events/{secret}"),
        ("POST", "/inbound/{secret}"),
        ("POST", "/hooks/{route}"),
    }


def test_given_the_api_function_then_it_may_queue_hook_pushes_and_read_only_the_hook_secrets_path():
    from relay.hook_routes import HOOK_SECRETS_PREFIX

    api = template()["Resources"]["ApiFunction"]["Properties"]
    assert api["Environment"]["Variables"]["INGEST_QUEUE_URL"] == {"Ref": "IngestQueue"}
    statements = [s for policy in api["Policies"] for s in policy["Statement"]]
    [send] = [s for s in statements if s["Action"] == "sqs:SendMessage"]
    assert {"Fn::GetAtt": ["IngestQueue", "Arn"]} in send["Resource"]
    [ssm] = [s for s in statements if s["Action"] == "ssm:GetParameter"]
    assert any(f"parameter{HOOK_SECRETS_PREFIX}*" in str(r) for r in ssm["Resource"])


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


# --- alarms that can fire (issue 9) -------------------------------------------------------------

FUNCTIONS = ROOT / "functions"
#: metrics that other branches of issue 9 add (sender: 4xx answers that are not push results; ingest:
#: failed notifications). Once those branches are merged, delete this set: every alarm's metric must
#: then be found in functions/.
#: what SQS publishes for every queue (AWS/SQS namespace)
SQS_METRICS = {
    "ApproximateNumberOfMessagesVisible",
    "ApproximateAgeOfOldestMessage",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "NumberOfMessagesSent",
    "NumberOfMessagesReceived",
    "NumberOfMessagesDeleted",
    "NumberOfEmptyReceives",
    "SentMessageSize",
}


def _alarms() -> dict[str, dict]:
    return {k: v["Properties"] for k, v in template()["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}


def _metric_names_in_code() -> set[str]:
    """Every quoted CamelCase literal in functions/*.py: add_metric(name="X") and metrics={"X": n}."""
    names: set[str] = set()
    for path in FUNCTIONS.rglob("*.py"):
        names |= set(re.findall(r"""["']([A-Z][A-Za-z0-9]+)["']""", path.read_text()))
    return names


def test_given_the_alarm_topic_then_its_kms_key_lets_cloudwatch_publish_to_it():
    resources = template()["Resources"]
    key_ref = resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"]
    # not an AWS managed key (alias/aws/sns): its policy cannot let CloudWatch in, every alarm is dropped
    assert isinstance(key_ref, dict) and set(key_ref) == {"Ref"}, key_ref
    key = resources[key_ref["Ref"]]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    [cloudwatch] = [s for s in statements if s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"]
    assert cloudwatch["Effect"] == "Allow"
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch["Action"])
    # only on behalf of this account's alarms (confused deputy)
    assert cloudwatch["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    # and the account can still administer its key (else CloudFormation cannot even update it)
    [admin] = [s for s in statements if "AWS" in s.get("Principal", {})]
    assert admin["Effect"] == "Allow" and admin["Action"] == "kms:*"
    assert admin["Principal"]["AWS"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}


def test_given_the_alarm_topic_policy_then_cloudwatch_of_this_account_may_publish():
    resources = template()["Resources"]
    [policy] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::SNS::TopicPolicy"]
    assert policy["Topics"] == [{"Ref": "AlarmTopic"}]
    [cloudwatch] = [s for s in policy["PolicyDocument"]["Statement"] if s["Principal"].get("Service") == "cloudwatch.amazonaws.com"]
    assert cloudwatch["Effect"] == "Allow" and cloudwatch["Action"] == "sns:Publish"
    assert cloudwatch["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_given_the_alarms_then_ambiguous_sends_vendor_http_errors_ingest_failures_and_dead_letter_age_are_watched():
    watched = {(a["MetricName"], json.dumps(a["Dimensions"][0]["Value"], sort_keys=True)) for a in _alarms().values()}
    service = json.dumps("picky-relay")
    assert {("RecipientsAmbiguous", service), ("VendorHttpErrors", service), ("IngestFailures", service)} <= watched
    for queue in ("SendDeadLetterQueue", "IngestDeadLetterQueue"):
        assert ("ApproximateAgeOfOldestMessage", json.dumps({"Fn::GetAtt": [queue, "QueueName"]})) in watched
    # a dead-lettered message is told about well before the queue's retention drops it
    for alarm in _alarms().values():
        if alarm["MetricName"] == "ApproximateAgeOfOldestMessage":
            queue = alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
            assert alarm["Threshold"] < template()["Resources"][queue]["Properties"]["MessageRetentionPeriod"] / 2


def test_given_each_alarm_then_its_metric_is_one_the_code_or_sqs_emits_and_it_notifies_the_topic():
    globals_env = template()["Globals"]["Function"]["Environment"]["Variables"]
    emitted = _metric_names_in_code()
    for name, alarm in _alarms().items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["TreatMissingData"] == "notBreaching", name
        if alarm["Namespace"] == "AWS/SQS":
            assert alarm["MetricName"] in SQS_METRICS, name
            assert alarm["Dimensions"][0]["Name"] == "QueueName", name
            continue
        # as Powertools publishes them: the functions' namespace, dimension service=<service name>
        assert alarm["Namespace"] == globals_env["POWERTOOLS_METRICS_NAMESPACE"], name
        assert alarm["Dimensions"] == [{"Name": "service", "Value": globals_env["POWERTOOLS_SERVICE_NAME"]}], name
        assert alarm["MetricName"] in emitted, f"{name} watches {alarm['MetricName']}, which no code in functions/ emits (renamed?)"
