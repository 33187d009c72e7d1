"""The AWX / AAP configuration as code (awx/): surveys and job templates that set real role variables, a workflow
that approves before it deploys, a playbook ansible-playbook accepts, and an execution environment ansible-builder
turns into a build context."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
AWX = REPO / "awx"


def tools_dir() -> Path:
    """Where ansible-playbook and ansible-builder are: beside this Python (the venv, also under ansible-test units,
    which runs these tests on a copy of the checkout), else the checkout's .venv."""
    for candidate in (Path(sys.executable).parent, REPO / ".venv" / "bin"):
        if (candidate / "ansible-playbook").exists() and (candidate / "ansible-builder").exists():
            return candidate
    return REPO / ".venv" / "bin"


BIN = tools_dir()

# AWX survey question types -> the Python type of the answer the job gets.
SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "integer": int,
                "float": float, "multiselect": list}
# Argument spec types -> the Python types a value may have.
SPEC_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (float, int), "bool": (bool,),
                                           "list": (list,), "dict": (dict,), "raw": (object,), "path": (str,)}
# Survey variables no role reads directly: the job template's extra_vars turn them into role variables
# (survey variable -> the role variable whose value templates it).
SURVEY_ONLY = {"survey_approver": "approval_given"}


class _Loader(yaml.SafeLoader):
    """YAML with Ansible's !unsafe tag (a string Ansible does not template)."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)


def spec_options() -> dict[str, dict[str, Any]]:
    """Every option of every entry point of every role, by variable name."""
    options: dict[str, dict[str, Any]] = {}
    for path in sorted(REPO.glob("roles/*/meta/argument_specs.yml")):
        for entry in load(path)["argument_specs"].values():
            for name, option in (entry.get("options") or {}).items():
                options.setdefault(name, option)
    return options


SPECS = spec_options()
SETTINGS = load(AWX / "vars" / "main.yml")
SURVEYS = {p.name: load(p) for p in sorted((AWX / "surveys").glob("*.yml"))}


def survey_problems(question: dict[str, Any]) -> list[str]:
    """Why a survey question does not set a usable role variable (empty when it does)."""
    name = question["variable"]
    answer_type = SURVEY_TYPES[question["type"]]
    if name in SURVEY_ONLY:
        return [] if answer_type is str else [f"{name}: a survey-only variable must be text, got {question['type']}"]
    if name not in SPECS:
        return [f"{name} is not a variable of any role's argument spec"]
    spec = SPECS[name]
    problems = []
    if not issubclass(answer_type, SPEC_TYPES[spec.get("type", "raw")]):
        problems.append(f"{name}: a {question['type']} answer is {answer_type.__name__}, the spec wants {spec.get('type')}")
    if "choices" in question:
        if "choices" in spec and not set(question["choices"]) <= set(spec["choices"]):
            problems.append(f"{name}: choices {question['choices']} are not all among the spec's {spec['choices']}")
        if question.get("default") not in ("", None, *question["choices"]):
            problems.append(f"{name}: default {question['default']!r} is not one of the choices")
    elif "choices" in spec:
        problems.append(f"{name}: the spec allows only {spec['choices']}; the survey must offer choices")
    if spec.get("required") and not question.get("required"):
        problems.append(f"{name} is required by its role; the survey must require it")
    return problems


def value_problems(name: str, value: Any) -> list[str]:
    """Why a variable a job template or an inventory sets is not one a role reads, as the type it wants."""
    if name.startswith("ansible_"):
        return []
    if name not in SPECS:
        return [f"{name} is not a variable of any role's argument spec"]
    spec_type = SPECS[name].get("type", "raw")
    if not isinstance(value, SPEC_TYPES[spec_type]):
        return [f"{name}: {value!r} is not a {spec_type}"]
    choices = SPECS[name].get("choices")
    if choices and isinstance(value, str) and "{{" not in value and value not in choices:
        return [f"{name}: {value!r} is not one of {choices}"]
    return []


@pytest.mark.parametrize("survey", sorted(SURVEYS))
def test_every_survey_variable_is_a_role_variable_of_a_compatible_type(survey: str) -> None:
    spec = SURVEYS[survey]
    assert spec["spec"], f"{survey} asks nothing"
    problems = [p for question in spec["spec"] for p in survey_problems(question)]
    assert problems == []
    names = [q["variable"] for q in spec["spec"]]
    assert len(names) == len(set(names)), f"{survey} asks for a variable twice: {names}"
    assert {"liftoff_version", "liftoff_environment"} <= set(names)


def test_the_survey_check_catches_what_a_role_would_not_read() -> None:
    assert survey_problems({"variable": "liftoff_verison", "type": "text"}) == [
        "liftoff_verison is not a variable of any role's argument spec"]
    assert survey_problems({"variable": "rollback_db_policy", "type": "multiplechoice", "required": True,
                            "choices": ["never", "sometimes"], "default": "never"}) == [
        "rollback_db_policy: choices ['never', 'sometimes'] are not all among the spec's "
        "['never', 'on_migration_failure', 'always']"]
    assert survey_problems({"variable": "lock_ttl", "type": "text"}) == [
        "lock_ttl: a text answer is str, the spec wants int"]
    assert survey_problems({"variable": "liftoff_environment", "type": "text", "required": False}) == [
        "liftoff_environment is required by its role; the survey must require it"]


@pytest.mark.parametrize("template", SETTINGS["liftoff_awx_job_templates"], ids=lambda t: t["name"])
def test_job_templates_run_real_playbooks_and_set_real_role_variables(template: dict[str, Any]) -> None:
    assert (REPO / template["playbook"]).is_file(), template["playbook"]
    assert template["job_type"] in ("run", "check")
    assert template["survey"] in SURVEYS
    extra_vars = template.get("extra_vars") or {}
    assert [p for name, value in extra_vars.items() for p in value_problems(name, value)] == []
    # A survey-only variable is used: the extra var it feeds reads it.
    for question in SURVEYS[template["survey"]]["spec"]:
        if question["variable"] in SURVEY_ONLY:
            target = SURVEY_ONLY[question["variable"]]
            assert question["variable"] in yaml.safe_dump(extra_vars.get(target)), \
                f"{template['name']}: the survey asks {question['variable']} but extra_vars.{target} never reads it"


def test_the_approver_answer_becomes_a_go_no_go_the_approval_role_reads() -> None:
    deploy = next(t for t in SETTINGS["liftoff_awx_job_templates"] if t["name"] == "liftoff deploy")
    gates = [g["name"] for inv in SETTINGS["liftoff_awx_inventories"] for g in inv["variables"].get("approval_gates", [])]
    assert gates, "no example inventory defines an approval gate"
    assert set(gates) <= set(deploy["extra_vars"]["approval_given"])


@pytest.mark.parametrize("inventory", SETTINGS["liftoff_awx_inventories"], ids=lambda i: i["name"])
def test_inventories_set_real_role_variables(inventory: dict[str, Any]) -> None:
    variables = inventory["variables"]
    assert [p for name, value in variables.items() for p in value_problems(name, value)] == []
    assert inventory["hosts"], f"{inventory['name']} has no app hosts"
    choices = next(q for q in SURVEYS["deploy.yml"]["spec"] if q["variable"] == "liftoff_environment")["choices"]
    assert variables["liftoff_environment"] in choices


def workflow_graph() -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """(node by identifier, parents by identifier) of the workflow, on every edge kind."""
    nodes = {n["identifier"]: n for n in SETTINGS["liftoff_awx_workflow"]["nodes"]}
    parents: dict[str, list[str]] = {name: [] for name in nodes}
    for name, node in nodes.items():
        for kind in ("success_nodes", "failure_nodes", "always_nodes"):
            for child in (node.get("related") or {}).get(kind, []):
                assert child["identifier"] in nodes, f"{name} leads to an unknown node {child['identifier']}"
                parents[child["identifier"]].append(name)
    return nodes, parents


def paths_to(node: str, parents: dict[str, list[str]]) -> list[list[str]]:
    """Every path from a root of the workflow to node (root first)."""
    if not parents[node]:
        return [[node]]
    return [[*path, node] for parent in parents[node] for path in paths_to(parent, parents)]


def template_of(node: dict[str, Any]) -> dict[str, Any]:
    ujt = node["unified_job_template"]
    assert ujt["type"] == "job_template"
    return next(t for t in SETTINGS["liftoff_awx_job_templates"] if t["name"] == ujt["name"])


def test_the_workflow_plans_then_waits_for_an_approval_then_deploys() -> None:
    nodes, parents = workflow_graph()
    kinds = {name: node["unified_job_template"]["type"] for name, node in nodes.items()}
    deploys = [n for n, kind in kinds.items()
               if kind == "job_template" and template_of(nodes[n])["job_type"] == "run"
               and template_of(nodes[n])["playbook"] == "playbooks/deploy.yml"]
    assert deploys, "the workflow never deploys"
    for deploy in deploys:
        for path in paths_to(deploy, parents):
            approvals = [i for i, n in enumerate(path) if kinds[n] == "workflow_approval"]
            assert approvals, f"the workflow reaches {deploy} without an approval: {' -> '.join(path)}"
            # only on approval: the edge out of the approval node is success, never always / failure
            after = path[approvals[-1] + 1]
            assert {"identifier": after} in nodes[path[approvals[-1]]]["related"]["success_nodes"]
            plans = [n for n in path[:approvals[0]] if kinds[n] == "job_template"
                     and template_of(nodes[n])["job_type"] == "check"
                     and template_of(nodes[n])["playbook"] == "playbooks/deploy.yml"]
            assert plans, f"no plan (check-mode deploy) before the approval: {' -> '.join(path)}"
            # A job before the approval node decides no approval: the approval role takes any job a workflow
            # launched as approved by the workflow's approval node, which has not answered yet.
            for early in (n for n in path[:approvals[0]] if kinds[n] == "job_template"):
                extra_vars = template_of(nodes[early]).get("extra_vars") or {}
                assert (extra_vars.get("approval_gates"), extra_vars.get("approval_attestations")) == ([], []), \
                    f"{early} runs before the approval node but would record the go/no-go as given"


def test_the_workflow_check_fails_on_a_workflow_that_skips_the_approval(monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = [dict(n) for n in SETTINGS["liftoff_awx_workflow"]["nodes"]]
    nodes[0] = {**nodes[0], "related": {"success_nodes": [{"identifier": "approve"}, {"identifier": "deploy"}]}}
    monkeypatch.setitem(SETTINGS["liftoff_awx_workflow"], "nodes", nodes)
    with pytest.raises(AssertionError, match="reaches deploy without an approval: plan -> deploy"):
        test_the_workflow_plans_then_waits_for_an_approval_then_deploys()


def test_the_workflow_check_fails_on_a_plan_that_would_record_an_approval(monkeypatch: pytest.MonkeyPatch) -> None:
    templates = [dict(t) for t in SETTINGS["liftoff_awx_job_templates"]]
    plan = next(i for i, t in enumerate(templates) if t["job_type"] == "check")
    templates[plan] = {**templates[plan], "extra_vars": {}}
    monkeypatch.setitem(SETTINGS, "liftoff_awx_job_templates", templates)
    with pytest.raises(AssertionError, match="plan runs before the approval node but would record the go/no-go"):
        test_the_workflow_plans_then_waits_for_an_approval_then_deploys()


def syntax_check(playbook: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", str(playbook)], cwd=REPO, env=env,
                          text=True, capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def awx_collection() -> Path:
    """The awx.awx collection, where scripts/bootstrap.sh puts it: beside the `ansible` package's collections."""
    import ansible_collections

    for root in ansible_collections.__path__:
        if (Path(root) / "awx" / "awx" / "MANIFEST.json").exists():
            return Path(root) / "awx" / "awx"
    pytest.fail("the awx.awx collection is not installed beside the ansible package's collections: "
                "run scripts/bootstrap.sh (or ansible-galaxy collection install -r awx/requirements.yml)")


def test_configure_playbook_passes_syntax_check(awx_collection: Path) -> None:
    result = syntax_check(AWX / "configure.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_syntax_check_resolves_the_awx_modules(awx_collection: Path, tmp_path: Path) -> None:
    """The check above would catch a module awx.awx does not have (it is not a YAML parse only)."""
    shutil.copytree(AWX, tmp_path / "awx")
    playbook = tmp_path / "awx" / "configure.yml"
    playbook.write_text(playbook.read_text(encoding="utf-8").replace("awx.awx.job_template:", "awx.awx.job_templat:"),
                        encoding="utf-8")
    result = syntax_check(playbook)
    assert result.returncode != 0
    assert "awx.awx.job_templat" in result.stdout + result.stderr


def test_every_awx_module_accepts_its_arguments(awx_collection: Path, tmp_path: Path) -> None:
    """configure.yml against a controller that is not there: each awx.awx task (each loop item) gets past its
    module's argument validation and fails only on the connection (no AWX runs here, and none is faked)."""
    shutil.copytree(AWX, tmp_path / "awx")
    playbook = tmp_path / "awx" / "configure.yml"
    text = playbook.read_text(encoding="utf-8")
    assert "  gather_facts: false\n" in text
    playbook.write_text(text.replace("  gather_facts: false\n", "  gather_facts: false\n  ignore_errors: true\n", 1),
                        encoding="utf-8")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    extra = {"controller_host": f"http://127.0.0.1:{port}", "controller_username": "admin",
             "controller_password": "unused", "liftoff_awx_scm_url": "https://git.example.invalid/liftoff.git",
             "liftoff_awx_ee_image": "registry.example.invalid/liftoff/release-ee:1.0.0",
             "liftoff_awx_machine_credential": "app hosts",
             "liftoff_awx_expose_paths": ["/var/lib/liftoff/records:/var/lib/liftoff/records:z"]}
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    result = subprocess.run([str(BIN / "ansible-playbook"), str(playbook), "-e", json.dumps(extra)], cwd=REPO,
                            env=env, text=True, capture_output=True, timeout=600, check=False)
    report = json.loads(result.stdout)
    outcomes = {}
    for task in report["plays"][0]["tasks"]:
        outcome = task["hosts"]["localhost"]
        outcomes[task["task"]["name"]] = [item.get("msg", "") for item in outcome.get("results", [outcome])]
    assert outcomes.pop("Check what this playbook needs") == ["All assertions passed"]
    assert len(outcomes) == text.count("      awx.awx.")
    for name, messages in outcomes.items():
        for message in messages:
            assert "Connection refused" in message, f"{name}: {message}"
    items = {name: len(messages) for name, messages in outcomes.items()}
    assert items["Create the job templates with their surveys"] == len(SETTINGS["liftoff_awx_job_templates"])
    assert items["Add the app hosts"] == sum(len(i["hosts"]) for i in SETTINGS["liftoff_awx_inventories"])


def pins(path: Path) -> dict[str, str]:
    """name -> '==version' of a requirements file's pinned lines."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+(?:\[[a-z,]+\])?)==(\S+)", line.strip())
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


@pytest.fixture(scope="module")
def build_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    context = tmp_path_factory.mktemp("ee") / "context"
    result = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(AWX / "execution-environment.yml"),
                             "-c", str(context), "--output-filename", "Containerfile"],
                            cwd=REPO, text=True, capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return context


def test_ansible_builder_creates_the_build_context(build_context: Path) -> None:
    containerfile = (build_context / "Containerfile").read_text(encoding="utf-8")
    assert "quay.io/centos/centos:stream9" in containerfile
    assert "ansible-core==2.21.5" in containerfile and "ansible-runner==2.4.3" in containerfile
    for script in ("assemble", "install-from-bindep", "introspect.py"):
        assert (build_context / "_build" / "scripts" / script).is_file()
    bindep = (build_context / "_build" / "bindep.txt").read_text(encoding="utf-8")
    assert "postgresql-client [platform:dpkg]" in bindep and "postgresql [platform:rpm]" in bindep


def test_the_execution_environment_has_the_collections_galaxy_yml_depends_on(build_context: Path) -> None:
    wanted = load(build_context / "_build" / "requirements.yml")["collections"]
    versions = {c["name"]: c.get("version") for c in wanted}
    assert "liftoff.release" in versions
    for name, version in (load(REPO / "galaxy.yml").get("dependencies") or {}).items():
        assert versions.get(name) == version, f"galaxy.yml depends on {name} {version}, the EE has {versions.get(name)}"


def test_the_execution_environment_pins_what_requirements_txt_pins(build_context: Path) -> None:
    ee = pins(build_context / "_build" / "requirements.txt")
    runtime = pins(REPO / "requirements.txt")
    assert ee, "the EE installs no Python package"
    assert {name: runtime.get(name) for name in ee} == ee, "the EE's Python pins differ from requirements.txt"
    assert set(runtime) - set(ee) == {"ansible", "ansible-core"}, "a runtime requirement is missing from the EE"
    definition = load(AWX / "execution-environment.yml")["dependencies"]
    assert definition["ansible_core"]["package_pip"] == f"ansible-core=={runtime['ansible-core']}"
    assert definition["ansible_runner"]["package_pip"] == \
        f"ansible-runner=={pins(REPO / 'requirements-test.txt')['ansible-runner']}"


@pytest.mark.skipif(os.environ.get("LIFTOFF_EE_BUILD") != "1" or not (shutil.which("podman") or shutil.which("docker")),
                    reason="building the EE image pulls quay.io/centos/centos:stream9 and installs from Galaxy: no such "
                           "registry is reachable here (set LIFTOFF_EE_BUILD=1 where podman or docker can reach them)")
def test_ansible_builder_builds_the_image(tmp_path: Path) -> None:
    runtime = "podman" if shutil.which("podman") else "docker"
    result = subprocess.run([str(BIN / "ansible-builder"), "build", "-f", str(AWX / "execution-environment.yml"),
                             "-c", str(tmp_path / "context"), "--container-runtime", runtime,
                             "-t", "liftoff-release-ee:test"], cwd=REPO, text=True, capture_output=True,
                            timeout=3600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    check = subprocess.run([runtime, "run", "--rm", "liftoff-release-ee:test", "ansible-doc", "-l", "liftoff.release"],
                           text=True, capture_output=True, timeout=300, check=False)
    assert "liftoff.release.pg_backup" in check.stdout, check.stdout + check.stderr
