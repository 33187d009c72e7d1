"""Each action plugin's docs match its ARGUMENT_SPEC (ansible-doc itself: scripts/referee.py ansible-doc).

The action plugins validate their arguments with ``ARGUMENT_SPEC``; ``plugins/modules/<name>.py``
only documents them. These tests make the two impossible to drift apart: option names, types,
elements, defaults, choices and required flags must be equal, recursively for suboptions.
"""
from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.liftoff.release.plugins.plugin_utils.redact import is_secret_name

ROOT = Path(__file__).resolve().parents[3]
PLUGINS = ROOT / "plugins"
PACKAGE = "ansible_collections.liftoff.release.plugins"

ACTIONS = sorted(p.stem for p in (PLUGINS / "action").glob("*.py") if not p.stem.startswith("_"))
MODULES = sorted(p.stem for p in (PLUGINS / "modules").glob("*.py") if not p.stem.startswith("_"))
FILTER_FILES = sorted(p.stem for p in (PLUGINS / "filter").glob("*.py") if not p.stem.startswith("_"))

# Options whose elements the action plugin validates itself (not through ARGUMENT_SPEC), so
# their documented suboptions have no counterpart in the spec. Each needs its own test.
VALIDATED_ELSEWHERE = {
    ("gate", "metrics"): "plugin_utils.gate.parse_metric_specs; see test_gate_action.py",
}


def _filter_names() -> list[str]:
    names: list[str] = []
    for stem in FILTER_FILES:
        module = importlib.import_module(f"{PACKAGE}.filter.{stem}")
        names.extend(module.FilterModule().filters())
    return sorted(names)


FILTERS = _filter_names()


def _doc_strings(path: Path) -> dict[str, str]:
    """DOCUMENTATION, EXAMPLES and RETURN of a module file, read the way ansible-doc does (no import)."""
    found: dict[str, str] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("DOCUMENTATION", "EXAMPLES", "RETURN") and isinstance(node.value, ast.Constant) \
                    and isinstance(node.value.value, str):
                found[name] = node.value.value
    return found


def _argument_spec(action: str) -> dict[str, Any]:
    module = importlib.import_module(f"{PACKAGE}.action.{action}")
    spec = getattr(module.ActionModule, "ARGUMENT_SPEC", None)
    if spec is None:  # an action with no options has an empty one
        spec = getattr(module, "ARGUMENT_SPEC", None)
    assert isinstance(spec, dict), f"action plugin {action} has no ARGUMENT_SPEC"
    return spec


def _canonical(value: Any) -> str:
    # JSON keeps 5 apart from 5.0 and 1 apart from true, which == would not.
    return json.dumps(value, sort_keys=True)


def _normalise(options: dict[str, Any], nested_key: str) -> dict[str, Any]:
    """The comparable part of an option table (ARGUMENT_SPEC: ``options``; docs: ``suboptions``)."""
    out: dict[str, Any] = {}
    for name, opt in options.items():
        opt = opt or {}
        choices = opt.get("choices")
        entry: dict[str, Any] = {
            "type": opt.get("type", "str"),
            "elements": opt.get("elements"),
            "required": bool(opt.get("required", False)),
            "default": _canonical(opt.get("default")),
            "choices": sorted(_canonical(c) for c in choices) if choices is not None else None,
        }
        nested = opt.get(nested_key)
        if nested:
            entry["suboptions"] = _normalise(nested, nested_key)
        out[name] = entry
    return out


def _strip_validated_elsewhere(plugin: str, documented: dict[str, Any]) -> None:
    for owner, option in VALIDATED_ELSEWHERE:
        if owner == plugin and option in documented:
            documented[option].pop("suboptions", None)


def _diff(documented: dict[str, Any], coded: dict[str, Any], where: str = "") -> list[str]:
    problems: list[str] = []
    for name in sorted(set(documented) - set(coded)):
        problems.append(f"{where}{name}: documented but not in ARGUMENT_SPEC")
    for name in sorted(set(coded) - set(documented)):
        problems.append(f"{where}{name}: in ARGUMENT_SPEC but not documented")
    for name in sorted(set(documented) & set(coded)):
        doc, code = documented[name], coded[name]
        for key in ("type", "elements", "required", "default", "choices"):
            if doc[key] != code[key]:
                problems.append(f"{where}{name}.{key}: documented {doc[key]}, ARGUMENT_SPEC {code[key]}")
        problems.extend(_diff(doc.get("suboptions", {}), code.get("suboptions", {}), f"{where}{name}."))
    return problems


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_plugin_has_a_docs_stub(action: str) -> None:
    stub = PLUGINS / "modules" / f"{action}.py"
    assert stub.is_file(), f"action plugin {action} has no plugins/modules/{action}.py documenting it"
    docs = _doc_strings(stub)
    assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, f"{stub} lacks some of DOCUMENTATION/EXAMPLES/RETURN"
    assert yaml.safe_load(docs["DOCUMENTATION"])["module"] == action


@pytest.mark.parametrize("action", ACTIONS)
def test_documented_options_equal_argument_spec(action: str) -> None:
    doc = yaml.safe_load(_doc_strings(PLUGINS / "modules" / f"{action}.py")["DOCUMENTATION"])
    documented = _normalise(doc.get("options") or {}, "suboptions")
    _strip_validated_elsewhere(action, documented)
    coded = _normalise(_argument_spec(action), "options")
    problems = _diff(documented, coded)
    assert not problems, f"liftoff.release.{action} docs drift from ARGUMENT_SPEC:\n  " + "\n  ".join(problems)


def test_drift_is_caught() -> None:
    """The comparison itself can fail: a changed default, type, choice or suboption is reported."""
    code = _normalise({"ttl": {"type": "int", "default": 1800},
                       "mode": {"choices": ["a", "b"]},
                       "ev": {"type": "dict", "options": {"id": {"required": True}}}}, "options")
    doc = _normalise({"ttl": {"type": "float", "default": 1800.0},
                      "mode": {"type": "str", "choices": ["a"]},
                      "ev": {"type": "dict", "suboptions": {"id": {"type": "str"}, "extra": {}}},
                      "gone": {}}, "suboptions")
    assert _diff(doc, code) == [
        "gone: documented but not in ARGUMENT_SPEC",
        "ev.extra: documented but not in ARGUMENT_SPEC",
        "ev.id.required: documented False, ARGUMENT_SPEC True",
        'mode.choices: documented [\'"a"\'], ARGUMENT_SPEC [\'"a"\', \'"b"\']',
        "ttl.type: documented float, ARGUMENT_SPEC int",
        "ttl.default: documented 1800.0, ARGUMENT_SPEC 1800",
    ]


def _walk_spec(options: dict[str, Any], where: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for name, opt in options.items():
        out.append((f"{where}{name}", opt))
        out.extend(_walk_spec(opt.get("options") or {}, f"{where}{name}."))
    return out


@pytest.mark.parametrize("action", ACTIONS)
def test_secret_named_arguments_are_no_log(action: str) -> None:
    leaky = [path for path, opt in _walk_spec(_argument_spec(action))
             if is_secret_name(path.rsplit(".", 1)[-1]) and not opt.get("no_log")]
    assert not leaky, f"liftoff.release.{action}: secret-named arguments without no_log: {leaky}"


@pytest.mark.parametrize("action", ACTIONS)
def test_examples_and_return_are_complete(action: str) -> None:
    docs = _doc_strings(PLUGINS / "modules" / f"{action}.py")
    examples = yaml.safe_load(docs["EXAMPLES"])
    assert isinstance(examples, list) and examples
    assert any(f"liftoff.release.{action}" in task for task in examples), "no example uses the plugin by FQCN"
    returned = yaml.safe_load(docs["RETURN"])
    assert returned, "RETURN is empty"
    for key, entry in returned.items():
        missing = {"description", "returned", "type", "sample"} - set(entry)
        assert not missing, f"RETURN {key} lacks {sorted(missing)}"


# --------------------------------------------------------------------------- ansible-doc
# ansible-doc itself renders every plugin and role in one call per type: `scripts/referee.py ansible-doc`
# (the lint part of scripts/test.sh), which also fails on a warning or a plugin without EXAMPLES or RETURN.


@pytest.mark.parametrize("name", FILTERS)
def test_every_filter_has_a_sidecar(name: str) -> None:
    assert (PLUGINS / "filter" / f"{name}.yml").is_file(), f"filter {name} has no sidecar plugins/filter/{name}.yml"


@pytest.mark.parametrize("name", FILTERS)
def test_filter_documented_options_match_signature(name: str) -> None:
    """A sidecar documents _input plus exactly the filter function's other parameters, with their defaults."""
    import inspect

    functions: dict[str, Any] = {}
    for stem in FILTER_FILES:
        functions.update(importlib.import_module(f"{PACKAGE}.filter.{stem}").FilterModule().filters())
    params = list(inspect.signature(functions[name]).parameters.values())
    doc = yaml.safe_load((PLUGINS / "filter" / f"{name}.yml").read_text(encoding="utf-8"))["DOCUMENTATION"]
    options = doc["options"]
    assert set(options) == {"_input"} | {p.name for p in params[1:]}
    for param in params[1:]:
        if param.default is inspect.Parameter.empty:
            assert options[param.name].get("required") is True, f"{param.name} has no default: document it required"
            assert "default" not in options[param.name], param.name
        else:
            assert _canonical(options[param.name].get("default")) == _canonical(param.default), param.name
    assert doc["positional"].replace(" ", "").split(",") == ["_input", *(p.name for p in params[1:])]
    assert doc["name"] == name
