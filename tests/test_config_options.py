"""Configuration: one prefix, env and ini twins, target from -m, one-line usage errors."""

import pytest

from fixtures.config import OPTIONS, target_from_markexpr

PLUGINS = ["-p", "fixtures.plugin", "-p", "fixtures.steps", "-p", "fixtures.environment"]

SHOW_CONFIG = """
import json
def test_show(lab_config):
    print("CONFIG", json.dumps({"target": lab_config.target, "endpoint": lab_config.aws.endpoint_url,
          "timeout": lab_config.timeout, "ssh": lab_config.ssh_cidr, "provision": lab_config.provision,
          "run_id": lab_config.run_id}))
"""


def run_config(pytester, *args, ini: str = ""):
    import json

    pytester.makepyfile(test_show=SHOW_CONFIG)
    if ini:
        pytester.makeini("[pytest]\n" + ini)
    result = pytester.runpytest_subprocess(*PLUGINS, "-s", "-p", "no:cacheprovider", *args)
    for line in result.outlines:
        if "CONFIG " in line:
            return json.loads(line.split("CONFIG ", 1)[1])
    raise AssertionError("\n".join(result.outlines + result.errlines))


@pytest.mark.parametrize(
    "expr, target",
    [("local", "local"), ("aws", "aws"), ("aws and not bench", "aws"), ("local or aws", "local"),
     ("", None), ("bench", None), ("not aws", "local"), ("not local", "aws")],
)
def test_target_follows_the_mark_expression(expr, target):
    assert target_from_markexpr(expr) == target


def test_every_option_has_the_lab_prefix_and_a_help_text():
    for option in OPTIONS:
        assert option.dest.startswith("lab_")
        assert option.help


def test_defaults_to_local_with_no_mark_expression(lab_pytester, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("LOCALSTACK_HOST", raising=False)
    config = run_config(lab_pytester)
    assert config["target"] == "local"
    assert config["endpoint"] is None  # the embedded moto will be started
    assert config["provision"] is True


def test_command_line_beats_environment_beats_ini(lab_pytester, monkeypatch):
    monkeypatch.setenv("LAB_TIMEOUT", "12")
    assert run_config(lab_pytester, ini="lab_timeout = 7")["timeout"] == 12.0
    assert run_config(lab_pytester, "--lab-timeout", "3", ini="lab_timeout = 7")["timeout"] == 3.0
    monkeypatch.delenv("LAB_TIMEOUT")
    assert run_config(lab_pytester, ini="lab_timeout = 7")["timeout"] == 7.0


def test_aws_endpoint_url_from_the_environment_is_used(lab_pytester, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    assert run_config(lab_pytester)["endpoint"] == "http://127.0.0.1:4566"


def test_localstack_host_is_resolved_like_localstack_client(lab_pytester, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("LOCALSTACK_HOST", "127.0.0.1:4599")
    assert run_config(lab_pytester)["endpoint"] == "http://127.0.0.1:4599"


def test_each_run_gets_its_own_run_id(lab_pytester):
    assert run_config(lab_pytester)["run_id"] != run_config(lab_pytester)["run_id"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lab-target", "cloud"], "--lab-target must be one of local, aws"),
        (["--lab-timeout", "soon"], "--lab-timeout takes seconds"),
        (["--lab-ssh-cidr", "0.0.0.0/0"], "--lab-ssh-cidr must be a single address /32"),
        (["--lab-mysql-url", "mysql://admin:x@127.0.0.1:1/labdb"], "go together"),
    ],
)
def test_bad_values_give_one_line_naming_the_fix(lab_pytester, args, message):
    lab_pytester.makepyfile(test_show=SHOW_CONFIG)
    result = lab_pytester.runpytest_subprocess(*PLUGINS, "-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert any(message in line for line in result.errlines), result.errlines
    assert not any("Traceback" in line for line in result.errlines + result.outlines)


def test_aws_target_needs_provision_or_an_emulator(lab_pytester, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("LOCALSTACK_HOST", raising=False)
    lab_pytester.makepyfile(test_show=SHOW_CONFIG)
    result = lab_pytester.runpytest_subprocess(*PLUGINS, "-p", "no:cacheprovider", "-m", "aws")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert any("--lab-provision" in line for line in result.errlines)
