"""The review's parts on their own: the CLI diff parser, the classification, the default base."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from review import classify, cost, gitref
from review.cdkdiff import diff_templates

ROLE = {
    "Type": "AWS::IAM::Role",
    "Properties": {
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}}
            ],
        }
    },
}


def _policy(*statements):
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "p",
            "Roles": [{"Ref": "JobRole"}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": list(statements)},
        },
    }


BASE = {
    "Resources": {
        "TrainingLogs1234": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}},
        "ProjectKey99EBDA78": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {}}, "DeletionPolicy": "Retain"},
        "DataBucketE6B0FAA8": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "a"}},
        "Endpoint8024A810": {
            "Type": "AWS::SageMaker::Endpoint",
            "Properties": {"EndpointName": "e1", "EndpointConfigName": "c"},
        },
        "JobRole": ROLE,
        "OldPolicy": _policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}),
    }
}
HEAD = {
    "Resources": {
        "AlarmsTopic5678": {"Type": "AWS::SNS::Topic"},
        "DataBucketE6B0FAA8": {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": "b", "Tags": [{"Key": "x", "Value": "y"}]},
        },
        "Endpoint8024A810": {
            "Type": "AWS::SageMaker::Endpoint",
            "Properties": {"EndpointName": "e2", "EndpointConfigName": "c"},
        },
        "JobRole": ROLE,
        "JobPolicy": _policy(
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"},
            {"Effect": "Deny", "Action": "sns:Publish", "Resource": {"Ref": "AlarmsTopic5678"}},
        ),
        "Sg": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "d",
                "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}],
            },
        },
    },
    "Outputs": {"TopicArn": {"Value": {"Ref": "AlarmsTopic5678"}}},
}


@pytest.fixture(scope="module")
def stack_diff(tmp_path_factory):
    """BASE -> HEAD through the CDK's own diff library (review/cdkdiff.cjs)."""
    folder = tmp_path_factory.mktemp("templates")
    (folder / "base.json").write_text(json.dumps(BASE))
    (folder / "head.json").write_text(json.dumps(HEAD))
    paths = {"DataBucketE6B0FAA8": "/elasticml-dev-storage/Data/Bucket/Resource"}
    return diff_templates("s", folder / "base.json", folder / "head.json", paths)


def test_the_cdk_diff_gives_resources_security_rows_and_other_changes(stack_diff):
    diff = stack_diff
    by_id = {r.logical_id: r for r in diff.resources}
    assert sorted((r.kind, r.logical_id) for r in diff.resources) == [
        ("added", "AlarmsTopic5678"),
        ("added", "JobPolicy"),
        ("added", "Sg"),
        ("changed", "DataBucketE6B0FAA8"),
        ("changed", "Endpoint8024A810"),
        ("removed", "OldPolicy"),
        ("removed", "ProjectKey99EBDA78"),
        ("removed", "TrainingLogs1234"),
    ]
    assert by_id["DataBucketE6B0FAA8"].impact == "replaced"
    assert by_id["DataBucketE6B0FAA8"].path == "Data/Bucket"  # as the CLI shows it: no stack, no /Resource
    assert by_id["DataBucketE6B0FAA8"].properties == ["BucketName", "Tags"]
    assert by_id["DataBucketE6B0FAA8"].forcing == ["BucketName"]
    assert by_id["Endpoint8024A810"].forcing == ["EndpointName"]
    assert by_id["TrainingLogs1234"].impact == "deleted"
    assert by_id["ProjectKey99EBDA78"].impact.startswith("removed from the stack, retained")
    assert sorted((row.table, row.sign, row.cells.get("Effect", "")) for row in diff.security) == [
        ("IAM Statement Changes", "+", "Allow"),
        ("IAM Statement Changes", "+", "Deny"),
        ("IAM Statement Changes", "-", "Allow"),
        ("Security Group Changes", "+", ""),
    ]
    allow = next(r for r in diff.security if r.sign == "+" and r.cells.get("Effect") == "Allow")
    assert allow.cells["Action"] == "s3:GetObject s3:PutObject"  # a cell of two lines, joined
    assert diff.other == ["Outputs: [+] TopicArn"]
    assert "[~] AWS::S3::Bucket Data/Bucket DataBucketE6B0FAA8 replace" in diff.text  # the CLI's rendering


def test_stateful_replacements_and_deletions_are_destructive_and_retained_removals_are_not(stack_diff):
    found = classify.destructive_changes([stack_diff])
    assert sorted((d.logical_id, d.label, d.action) for d in found) == [
        ("DataBucketE6B0FAA8", "S3 bucket", "replaced"),
        ("Endpoint8024A810", "SageMaker endpoint", "replaced"),
        ("TrainingLogs1234", "log group", "deleted"),
    ]
    assert next(d for d in found if d.logical_id == "DataBucketE6B0FAA8").why == "forced by BucketName"


def test_an_added_allow_or_rule_widens_and_an_added_deny_or_removed_allow_narrows(stack_diff):
    widening, narrowing = classify.widening_changes([stack_diff])
    assert [w.table for w in widening] == ["IAM Statement Changes", "Security Group Changes"]
    assert "Action: s3:GetObject s3:PutObject" in widening[0].summary
    assert "Everyone (IPv4)" in widening[1].summary
    assert narrowing == 2


def test_a_deleted_stack_takes_its_unretained_stateful_resources():
    template = {
        "Resources": {
            "Kept": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"},
            "Gone": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Delete", "Metadata": {"aws:cdk:path": "s/Logs"}},
            "Role": {"Type": "AWS::IAM::Role"},
        }
    }
    assert [(d.logical_id, d.path) for d in classify.deleted_stack("s", template)] == [("Gone", "s/Logs")]


def endpoint_resources(instance_type: str, count: int) -> dict:
    """Endpoint `e` (logical id E) on config C: one variant `AllTraffic` of `count` instances."""
    return {
        "E": {
            "Type": "AWS::SageMaker::Endpoint",
            "Properties": {"EndpointName": "e", "EndpointConfigName": {"Fn::GetAtt": ["C", "X"]}},
        },
        "C": {
            "Type": "AWS::SageMaker::EndpointConfig",
            "Properties": {
                "ProductionVariants": [
                    {"InstanceType": instance_type, "InitialInstanceCount": count, "VariantName": "AllTraffic"}
                ]
            },
        },
    }


def test_an_unknown_instance_type_is_named_not_priced():
    prices = cost.load_prices()

    def endpoint(kind):
        return {"Resources": endpoint_resources(kind, 2)}

    [change] = cost.cost_changes("s", endpoint("ml.c5.large"), endpoint("ml.x9.huge"), prices)
    assert change.delta is None and "no price for ml.x9.huge" in change.note
    [change] = cost.cost_changes("s", endpoint("ml.c5.large"), endpoint("ml.c5.xlarge"), prices)
    expected = (prices.hosting["ml.c5.xlarge"] - prices.hosting["ml.c5.large"]) * 2 * prices.hours_per_month
    assert change.delta == pytest.approx(expected, abs=0.01)


def test_a_capacity_plan_change_is_priced_from_its_weekly_floor():
    prices = cost.load_prices()

    def endpoint(target, schedule):
        return {
            "Resources": {
                **endpoint_resources("ml.c5.xlarge", 1),
                "T": {
                    "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
                    "Properties": {
                        "ResourceId": "endpoint/e/variant/AllTraffic",
                        "MinCapacity": 1,
                        "MaxCapacity": 8,
                        "ScheduledActions": [
                            {
                                "ScheduledActionName": f"a{i}",
                                "Schedule": cron,
                                "ScalableTargetAction": {"MinCapacity": m},
                            }
                            for i, (cron, m) in enumerate(schedule)
                        ],
                    },
                },
                "P": {
                    "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
                    "Properties": {
                        "ScalingTargetId": {"Ref": "T"},
                        "TargetTrackingScalingPolicyConfiguration": {"TargetValue": target},
                    },
                },
            }
        }

    # 5 instances from Monday 08:00 to Monday 20:00 (12 of the week's 168 hours), 1 otherwise.
    planned = [("cron(0 8 ? * MON *)", 5), ("cron(0 20 ? * MON *)", 1)]
    [change] = cost.cost_changes("s", endpoint(13080.0, []), endpoint(20000.0, planned), prices)
    floor = (5 * 12 + 1 * 156) / 168
    expected = prices.hosting["ml.c5.xlarge"] * floor * prices.hours_per_month
    assert change.monthly_after == pytest.approx(expected, abs=0.01)
    assert "target 13080/instance/min" in change.before and "target 20000/instance/min" in change.after
    assert "2 scheduled minimums (weekly mean floor 1.29)" in change.after


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_the_default_base_is_the_merge_base_with_main_else_head_or_its_parent(tmp_path):
    _git(tmp_path, "init", "--quiet", "--initial-branch=main")
    (tmp_path / "f").write_text("1")
    _git(tmp_path, "add", "f")
    _git(tmp_path, "commit", "--quiet", "-m", "one")
    first = _git(tmp_path, "rev-parse", "HEAD")
    assert gitref.resolve_base(tmp_path).sha == first  # a single clean commit: nothing older

    (tmp_path / "f").write_text("2")
    _git(tmp_path, "commit", "--quiet", "-am", "two")
    second = _git(tmp_path, "rev-parse", "HEAD")
    assert gitref.resolve_base(tmp_path).ref == "HEAD~1"  # on main, clean: the last commit is reviewed
    (tmp_path / "f").write_text("dirty")
    assert (gitref.resolve_base(tmp_path).ref, gitref.resolve_base(tmp_path).sha) == ("HEAD", second)

    _git(tmp_path, "checkout", "--quiet", "--", "f")
    _git(tmp_path, "checkout", "--quiet", "-b", "feature", first)
    (tmp_path / "g").write_text("x")
    _git(tmp_path, "add", "g")
    _git(tmp_path, "commit", "--quiet", "-m", "feature")
    assert gitref.resolve_base(tmp_path).sha == first  # merge base of feature and main
    assert gitref.resolve_base(tmp_path, "main").sha == second
    with pytest.raises(gitref.GitError, match="not a commit"):
        gitref.resolve_base(tmp_path, "no-such-ref")


def test_the_worktree_holds_the_base_and_is_removed(tmp_path):
    _git(tmp_path, "init", "--quiet", "--initial-branch=main")
    (tmp_path / "f").write_text("base")
    _git(tmp_path, "add", "f")
    _git(tmp_path, "commit", "--quiet", "-m", "one")
    (tmp_path / "f").write_text("changed")
    with gitref.worktree(tmp_path, _git(tmp_path, "rev-parse", "HEAD"), link=()) as tree:
        assert (tree / "f").read_text() == "base"
    assert not tree.exists()
    assert len(_git(tmp_path, "worktree", "list").splitlines()) == 1


def _bucket(name, path="Data/Bucket"):
    return {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name}, "Metadata": {"aws:cdk:path": path}}


def test_a_fixed_name_replaced_or_under_a_new_logical_id_fails_at_deploy(stack_diff):
    named = {"Fn::Join": ["-", ["elasticml-dev-data", {"Ref": "AWS::AccountId"}]]}
    base = {
        "s": {
            "Resources": {
                "DataBucketE6B0FAA8": _bucket(named),
                "Unnamed": {"Type": "AWS::SNS::Topic"},
                "OldLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/aws/x"}},
            }
        }
    }
    head = {
        "s": {
            "Resources": {
                "DataBucketE6B0FAA8": _bucket("elasticml-dev-data-2"),
                "NewLogs": {
                    "Type": "AWS::Logs::LogGroup",
                    "Properties": {"LogGroupName": "/aws/x"},
                    "Metadata": {"aws:cdk:path": "s/Renamed/Logs"},
                },
                "Renamed": {"Type": "AWS::SNS::Topic"},
            }
        }
    }
    found = classify.fixed_name_conflicts([stack_diff], base, head)
    assert [(d.logical_id, d.action) for d in found] == [
        ("DataBucketE6B0FAA8", classify.REPLACEMENT_FAILS),
        ("NewLogs", classify.MOVE_FAILS),
    ]
    assert "fixed name elasticml-dev-data-2" in found[0].why and "s/OldLogs becomes s/NewLogs" in found[1].why
    merged = classify.merge(found, classify.destructive_changes([stack_diff]))
    assert [d.logical_id for d in merged][:2] == ["DataBucketE6B0FAA8", "NewLogs"]
    assert sorted(d.logical_id for d in merged[2:]) == ["Endpoint8024A810", "TrainingLogs1234"]


def _serving(instance_type: str, *, registered: bool) -> dict:
    """A serving stack's endpoint, its config and (when registered) its scalable target."""
    resources = {
        "EndpointConfig": {
            "Type": "AWS::SageMaker::EndpointConfig",
            "Properties": {"ProductionVariants": [{"VariantName": "AllTraffic", "InstanceType": instance_type}]},
        },
        "Endpoint": {
            "Type": "AWS::SageMaker::Endpoint",
            "Properties": {
                "EndpointName": "elasticml-prod-cnn",
                "EndpointConfigName": {"Fn::GetAtt": ["EndpointConfig", "EndpointConfigName"]},
            },
            "Metadata": {"aws:cdk:path": "s/Endpoint/Endpoint"},
        },
    }
    if registered:
        resources["Target"] = {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "Properties": {"ResourceId": "endpoint/elasticml-prod-cnn/variant/AllTraffic"},
        }
    return {"Resources": resources}


def test_an_instance_type_change_while_registered_with_autoscaling_is_refused_with_the_steps():
    base = {"s": _serving("ml.c5.xlarge", registered=True)}
    (found,) = classify.autoscaled_instance_type_changes(base, {"s": _serving("ml.c5.2xlarge", registered=True)})
    assert found.action == classify.INSTANCE_TYPE_CHANGE_FAILS and found.path == "s/Endpoint/Endpoint"
    assert "ml.c5.xlarge to ml.c5.2xlarge" in found.why and "autoscaling_suspended: true" in found.why
    # suspending and changing the type in one deploy still fails: the target is deleted after the update
    assert classify.autoscaled_instance_type_changes(base, {"s": _serving("ml.c5.2xlarge", registered=False)})


def test_the_documented_order_passes_review():
    registered, suspended = _serving("ml.c5.xlarge", registered=True), _serving("ml.c5.xlarge", registered=False)
    moved = _serving("ml.c5.2xlarge", registered=False)
    steps = [(registered, suspended), (suspended, moved), (moved, _serving("ml.c5.2xlarge", registered=True))]
    assert all(not classify.autoscaled_instance_type_changes({"s": a}, {"s": b}) for a, b in steps)
    same = _serving("ml.c5.xlarge", registered=True)
    assert not classify.autoscaled_instance_type_changes({"s": registered}, {"s": same})


def test_a_new_topic_or_key_policy_statement_is_reported_as_widening(tmp_path):
    def topic(*statements):
        return {
            "Resources": {
                "Topic": {"Type": "AWS::SNS::Topic"},
                "TopicPolicy": {
                    "Type": "AWS::SNS::TopicPolicy",
                    "Properties": {
                        "Topics": [{"Ref": "Topic"}],
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": list(statements)},
                    },
                },
            }
        }

    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sns:Publish",
        "Resource": {"Ref": "Topic"},
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    allow = {
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": {"Ref": "Topic"},
    }
    (tmp_path / "base.json").write_text(json.dumps(topic(deny)))
    (tmp_path / "head.json").write_text(json.dumps(topic(deny, allow)))
    diff = diff_templates("s", tmp_path / "base.json", tmp_path / "head.json", {})
    widening, _ = classify.widening_changes([diff])
    assert any("cloudwatch.amazonaws.com" in w.summary and "sns:Publish" in w.summary for w in widening)
