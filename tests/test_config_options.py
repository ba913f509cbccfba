"""Configuration: one prefix, env and ini twins, target from -m, one-line usage errors."""

import subprocess
import sys

import pytest

from fixtures.config import OPTIONS, target_from_markexpr
from provisioning import settings

from .conftest import REPO_ROOT

PLUGINS = ["-p", "fixtures.plugin", "-p", "fixtures.steps", "-p", "fixtures.environment"]

SHOW_CONFIG = """
import json
def test_show(lab_config):
    print("CONFIG", json.dumps({"target": lab_config.target, "endpoint": lab_config.aws.endpoint_url,
          "timeout": lab_config.timeout, "ssh": lab_config.ssh_cidr, "provision": lab_config.provision,
          "run_id": lab_config.run_id, "reports": str(lab_config.reports_dir)}))
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


def test_aws_target_without_provision_checks_the_lab_that_exists_read_only(tmp_path):
    # Issue 10's stages: a lab kept with --lab-keep is checked again with plain -m aws, even on real
    # AWS, through clients that refuse every write; provisioning on AWS asks for the runner's address.
    def config(**given):
        raw = settings.gather(lambda option: given.get(option.name), {})
        return settings.resolve(raw, markexpr_target="aws", environ={}, invocation_dir=tmp_path, rootdir=tmp_path)

    existing = config()
    assert existing.target == "aws" and not existing.aws.emulated
    assert not existing.provision and existing.read_only
    provisioning = config(provision=True)
    assert provisioning.provision and not provisioning.read_only and provisioning.ssh_cidr is None
    assert config(provision=True, **{"ssh-cidr": "203.0.113.7/32"}).ssh_cidr == "203.0.113.7/32"
    assert config(provision=True, **{"endpoint-url": "http://127.0.0.1:5000"}).ssh_cidr == "198.51.100.10/32"


def test_reports_dir_given_on_the_command_line_or_in_the_environment_is_relative_to_the_invocation(tmp_path):
    here, root = tmp_path.resolve() / "here", tmp_path.resolve() / "root"

    def reports(given=None, environ=None, ini=None):
        pick = lambda value: (lambda option: value if option.name == "reports-dir" else None)  # noqa: E731
        raw = settings.gather(pick(given), environ or {}, pick(ini))
        return settings.resolve_reports_dir(raw, invocation_dir=here, rootdir=root)

    assert reports() == root / "reports"
    assert reports(ini="graded") == root / "graded"
    assert reports(environ={"LAB_REPORTS_DIR": "env"}, ini="graded") == here / "env"
    assert reports("cli", {"LAB_REPORTS_DIR": "env"}, "graded") == here / "cli"


def test_reports_dir_is_one_of_the_lab_options(lab_pytester, monkeypatch):
    monkeypatch.setenv("LAB_REPORTS_DIR", "graded")
    assert run_config(lab_pytester)["reports"] == str((lab_pytester.path / "graded").resolve())
    monkeypatch.delenv("LAB_REPORTS_DIR")
    assert run_config(lab_pytester, ini="lab_reports_dir = out")["reports"] == str((lab_pytester.path / "out").resolve())


def test_the_settings_table_needs_neither_pytest_nor_boto3():
    # dblab sweep and dblab grade build their options from it before anything else is imported.
    code = "import sys, provisioning.settings; print(sorted({'pytest', '_pytest', 'boto3'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_dblab_commands_take_the_same_options_with_the_same_variables_and_messages(monkeypatch):
    from dblab import grade, sweep
    from dblab.cli import build_parser

    for variable in ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LAB_TIMEOUT", "7")
    monkeypatch.setenv("LAB_REGION", "eu-west-1")
    raw = settings.from_arguments(build_parser().parse_args(["sweep"]), sweep.FLAGS)
    assert (settings.resolve_aws(raw).region, settings.resolve_timeout(raw, target="aws", grade=False)) == ("eu-west-1", 7.0)
    monkeypatch.delenv("LAB_TIMEOUT")
    raw = settings.from_arguments(build_parser().parse_args(["grade", "--roster", "class.csv"]), grade.FLAGS)
    assert settings.resolve_timeout(raw, target="aws", grade=True) == settings.timeout_default("aws", grade=True)
    raw = settings.from_arguments(build_parser().parse_args(["grade", "--roster", "x", "--timeout", "soon"]), grade.FLAGS)
    with pytest.raises(settings.SettingsError, match=r"^--timeout takes seconds, not 'soon'$"):
        settings.resolve_timeout(raw, target="aws", grade=True)


def test_a_bad_value_from_the_environment_names_the_variable(lab_pytester, monkeypatch):
    monkeypatch.setenv("LAB_TIMEOUT", "soon")
    lab_pytester.makepyfile(test_show=SHOW_CONFIG)
    result = lab_pytester.runpytest_subprocess(*PLUGINS, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert any("LAB_TIMEOUT takes seconds, not 'soon'" in line for line in result.errlines), result.errlines


@pytest.mark.parametrize("given, says", [
    ({"aws-realism": "fast"}, "--lab-aws-realism takes a number"),
    ({"aws-realism": "-1"}, "--lab-aws-realism takes a scale between 0 and 10"),
    ({"aws-realism": "0.01", "provision": True}, "real AWS has its own"),
    ({"keep": True}, "use it with -m aws --lab-provision"),
])
def test_realism_and_keep_refuse_what_they_cannot_do_in_one_line(tmp_path, given, says):
    raw = settings.gather(lambda option: given.get(option.name), {})
    with pytest.raises(settings.SettingsError) as refused:
        settings.resolve(raw, markexpr_target="aws", environ={}, invocation_dir=tmp_path, rootdir=tmp_path)
    assert says in str(refused.value) and "\n" not in str(refused.value)
