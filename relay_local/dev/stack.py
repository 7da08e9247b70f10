"""Create template.yaml's resources on the embedded AWS (moto server), from their own definitions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from relay_local.template import FunctionSpec, Resolver, functions, parameter_defaults, template

ACCOUNT = "123456789012"


@dataclass
class LocalStack:
    name: str
    region: str
    endpoint: str
    resolver: Resolver
    physical: dict[str, str] = field(default_factory=dict)

    @property
    def functions(self) -> dict[str, FunctionSpec]:
        return functions()

    def ref(self, logical_id: str) -> str:
        return self.resolver.refs[logical_id]

    def environment(self, logical_id: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The function's Environment.Variables as template.yaml sets them, resolved locally."""
        spec = functions()[logical_id]
        env = {k: str(self.resolver(v)) for k, v in spec.environment.items()}
        env.update(extra or {})
        return env


def _client(service: str, endpoint: str, region: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=region)


def create_stack(
    endpoint: str,
    name: str = "relay-local",
    region: str = "us-east-1",
    parameters: dict[str, str] | None = None,
    create: bool = True,
    queue_attributes: dict[str, dict[str, str]] | None = None,
) -> LocalStack:
    """Create the template's queues, table and bucket on `endpoint` (or, with create=False, only
    work out their names and URLs: to attach to a stack that `relay local` created)."""
    doc = template()
    refs: dict[str, Any] = {
        **parameter_defaults(doc),
        **(parameters or {}),
        "AWS::AccountId": ACCOUNT,
        "AWS::Region": region,
        "AWS::Partition": "aws",
        "AWS::StackName": name,
        "AWS::URLSuffix": "amazonaws.com",
    }
    attrs: dict[tuple[str, str], Any] = {}
    resolve = Resolver(refs, attrs)
    stack = LocalStack(name=name, region=region, endpoint=endpoint, resolver=resolve)
    resources = doc["Resources"]
    by_type: dict[str, list[str]] = {}
    for logical_id, res in resources.items():
        by_type.setdefault(res["Type"], []).append(logical_id)

    sqs = _client("sqs", endpoint, region)
    # dead-letter queues first: the others' RedrivePolicy points at them
    queues = sorted(by_type.get("AWS::SQS::Queue", []), key=lambda q: "RedrivePolicy" in resources[q].get("Properties", {}))
    for logical_id in queues:
        props = resources[logical_id].get("Properties", {})
        qname = props.get("QueueName") and resolve(props["QueueName"]) or f"{name}-{logical_id}"
        attributes = {
            k: str(resolve(props[k]))
            for k in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize")
            if k in props
        }
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(resolve(props["RedrivePolicy"]))
        attributes.update((queue_attributes or {}).get(logical_id, {}))  # e.g. short visibility for a soak
        url = (sqs.create_queue(QueueName=qname, Attributes=attributes) if create else sqs.get_queue_url(QueueName=qname))["QueueUrl"]
        refs[logical_id] = url
        attrs[(logical_id, "Arn")] = f"arn:aws:sqs:{region}:{ACCOUNT}:{qname}"
        attrs[(logical_id, "QueueName")] = qname
        attrs[(logical_id, "QueueUrl")] = url
        stack.physical[logical_id] = url

    ddb = _client("dynamodb", endpoint, region)
    for logical_id in by_type.get("AWS::DynamoDB::Table", []):
        props = resolve(resources[logical_id]["Properties"])
        tname = props.get("TableName") or f"{name}-{logical_id}"
        kwargs: dict[str, Any] = {
            "TableName": tname,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("SSESpecification"):
            kwargs["SSESpecification"] = {"Enabled": bool(props["SSESpecification"].get("SSEEnabled"))}
        if props.get("StreamSpecification"):
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": props["StreamSpecification"]["StreamViewType"]}
        if create:
            ddb.create_table(**kwargs)
            ttl = props.get("TimeToLiveSpecification")
            if ttl:  # moto records it (DescribeTimeToLive) but never deletes expired items
                ddb.update_time_to_live(
                    TableName=tname, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])}
                )
        refs[logical_id] = tname
        if props.get("StreamSpecification"):  # moto names the stream by its creation time: ask it
            attrs[(logical_id, "StreamArn")] = ddb.describe_table(TableName=tname)["Table"]["LatestStreamArn"]
        attrs[(logical_id, "Arn")] = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{tname}"
        stack.physical[logical_id] = tname

    s3 = _client("s3", endpoint, region)
    for logical_id in by_type.get("AWS::S3::Bucket", []):
        props = resources[logical_id].get("Properties", {})
        bname = props.get("BucketName") and resolve(props["BucketName"]) or f"{name}-{logical_id}".lower()
        if create:
            s3.create_bucket(Bucket=bname)
        refs[logical_id] = bname
        attrs[(logical_id, "Arn")] = f"arn:aws:s3:::{bname}"
        stack.physical[logical_id] = bname
    for logical_id in by_type.get("AWS::S3::Bucket", []) if create else []:
        props = resolve(resources[logical_id].get("Properties", {}))
        if props.get("VersioningConfiguration"):
            s3.put_bucket_versioning(
                Bucket=refs[logical_id], VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]}
            )
        if props.get("LifecycleConfiguration"):
            s3.put_bucket_lifecycle_configuration(
                Bucket=refs[logical_id], LifecycleConfiguration=_lifecycle(props["LifecycleConfiguration"])
            )
        if props.get("PublicAccessBlockConfiguration"):
            s3.put_public_access_block(Bucket=refs[logical_id], PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
        notes = (props.get("NotificationConfiguration") or {}).get("QueueConfigurations") or []
        if notes:
            s3.put_bucket_notification_configuration(
                Bucket=refs[logical_id],
                NotificationConfiguration={"QueueConfigurations": [_queue_notification(n) for n in notes]},
            )
    return stack


def _lifecycle(cfn: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's LifecycleConfiguration in the S3 API's shape."""
    rules = []
    for rule in cfn.get("Rules", []):
        api: dict[str, Any] = {"ID": rule.get("Id", ""), "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
        if "NoncurrentVersionExpiration" in rule:
            api["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule["NoncurrentVersionExpiration"]["NoncurrentDays"]}
        if "AbortIncompleteMultipartUpload" in rule:
            api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]}
        if rule.get("ExpiredObjectDeleteMarker"):
            api["Expiration"] = {"ExpiredObjectDeleteMarker": True}
        rules.append(api)
    return {"Rules": rules}


def _queue_notification(cfn: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {"QueueArn": cfn["Queue"], "Events": [cfn["Event"]]}
    rules = ((cfn.get("Filter") or {}).get("S3Key") or {}).get("Rules")
    if rules:
        api["Filter"] = {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}
    return api
