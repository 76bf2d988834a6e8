"""The JSON that `tessera bench --json` writes, as a JSON Schema, and a checker for it.

The schema uses a small subset of JSON Schema (type, properties, required, items, enum,
additionalProperties), checked here by `validate`, so the harness needs no jsonschema package
on the GPU machine. docs/benchmarks.md describes each field.
"""

from __future__ import annotations

SCHEMA_ID = "tessera-bench/1"
STATUSES = ["ok", "failed", "unsupported", "error", "timeout"]

_num = {"type": ["number", "null"]}
_str = {"type": ["string", "null"]}
RESULT_PROPERTIES = {
    "runtime": {"type": "string"},
    "model": {"type": "string"},
    "shape": {"type": "array", "items": {"type": "integer"}},
    "shape_id": {"type": "string"},
    "status": {"enum": STATUSES},
    "error": _str,
    "load_ms": _num, "first_ms": _num, "ttfr_ms": _num, "ttfr_again_ms": _num,
    "median_ms": _num, "p95_ms": _num,
    "runs": {"type": "integer"}, "warmup": {"type": "integer"},
    "fps": _num, "fps_frames": {"type": "integer"},
    "images_per_s": _num, "in_flight": {"type": "integer"}, "canvas_fps": _num,
    "gpu_ms": _num, "gpu_method": _str, "gpu_note": _str,
    "peak_gpu_bytes": _num, "memory_method": _str,
    "rel_l2": _num, "max_abs": _num,
    "profile": {"type": ["array", "null"], "items": {
        "type": "object", "required": ["label", "ms"],
        "properties": {"label": {"type": "string"}, "ms": {"type": "number"}}}},
    "expected_file": {"type": "string"},
    "tolerance": _num,
    "reference_note": _str,
    "runtime_info": {"type": ["object", "null"]},
    "wall_s": {"type": "number"},
}
_INT_DEFAULTS = {"runs": 0, "warmup": 0, "fps_frames": 0, "in_flight": 0}

SCHEMA = {
    "$id": SCHEMA_ID,
    "type": "object",
    "required": ["schema", "date", "machine", "browser", "adapter", "page", "settings", "results"],
    "properties": {
        "schema": {"enum": [SCHEMA_ID]},
        "date": {"type": "string"},
        "machine": {"type": "object", "required": ["platform", "cpu_count"],
                    "properties": {"platform": {"type": "string"}, "cpu_count": {"type": ["integer", "null"]},
                                   "nvidia_gpus": {"type": ["array", "null"]}}},
        "browser": {"type": "object", "required": ["executable", "flags", "user_agent"],
                    "properties": {"executable": {"type": "string"},
                                   "flags": {"type": "array", "items": {"type": "string"}},
                                   "user_agent": _str}},
        "adapter": {"type": ["object", "null"],
                    "properties": {"vendor": _str, "architecture": _str, "fallback": {"type": ["boolean", "null"]},
                                   "software": {"type": ["boolean", "null"]},
                                   "features": {"type": ["array", "null"], "items": {"type": "string"}}}},
        "page": {"type": "object"},
        "settings": {"type": "object", "required": ["runs", "warmup", "tolerance"]},
        "results": {"type": "array", "items": {
            "type": "object", "required": list(RESULT_PROPERTIES),
            "properties": RESULT_PROPERTIES, "additionalProperties": False}},
    },
}

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is(value, type_name: str) -> bool:
    if type_name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[type_name])


def validate(value, schema: dict = SCHEMA, where: str = "$") -> list[str]:
    """Every way value breaks schema, as 'path: problem' lines; empty when it conforms."""
    problems = []
    types = schema.get("type")
    if types is not None and not any(_is(value, t) for t in ([types] if isinstance(types, str) else types)):
        return [f"{where}: expected {types}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        problems += [f"{where}: missing {k}" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            problems += [f"{where}: unexpected {k}" for k in value if k not in props]
        for k, sub in props.items():
            if k in value:
                problems += validate(value[k], sub, f"{where}.{k}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += validate(item, schema["items"], f"{where}[{i}]")
    return problems


def complete_result(result: dict) -> dict:
    """A result with every field present (null where the measurement didn't get that far)."""
    return {k: result.get(k, _INT_DEFAULTS.get(k)) for k in RESULT_PROPERTIES}
