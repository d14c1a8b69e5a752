//! The mapped objects of every provider's tests checked by terra-python's own models (the
//! compatibility contract): strict, with Terra's aliases, and no key the model does not
//! know. Fails, never skips, without terra-python (`./test.sh` installs it).

use std::process::Command;

use serde_json::{json, Value};

/// A `module` of `terra.types` (`"daily"`, `"sleep_event"`), the model's class name in it
/// (`"Daily"`, `"SleepEvent"`) and the JSON to validate.
pub type Checked<'a> = (&'a str, &'a str, Value);

/// A webhook event of `kind` for a user of `provider` (its Terra name) carrying `data`, as
/// the dispatcher delivers it.
pub fn event(kind: &str, provider: &str, data: Value) -> Value {
    json!({"type": kind, "user": {"user_id": "0b9c3f1e-6a59-4a8e-9d1c-4d3c2b1a0f9e",
        "provider": provider, "reference_id": "customer-42"},
        "data": [data], "version": pulsegate_schema::PAYLOAD_VERSION})
}

/// Each object with its model and its event: `(module, class, value)` twice, bare and
/// wrapped in `kind`'s event.
pub fn with_event(
    module: &'static str,
    class: &'static str,
    provider: &str,
    v: Value,
) -> [Checked<'static>; 2] {
    let event_class: &'static str = match class {
        "Activity" => "ActivityEvent",
        "Athlete" => "AthleteEvent",
        "Body" => "BodyEvent",
        "Daily" => "DailyEvent",
        "Menstruation" => "MenstruationEvent",
        "Nutrition" => "NutritionEvent",
        "Sleep" => "SleepEvent",
        other => panic!("no event model for {other}"),
    };
    let event_module: &'static str = match module {
        "activity" => "activity_event",
        "athlete" => "athlete_event",
        "body" => "body_event",
        "daily" => "daily_event",
        "menstruation" => "menstruation_event",
        "nutrition" => "nutrition_event",
        "sleep" => "sleep_event",
        other => panic!("no event module for {other}"),
    };
    [
        (module, class, v.clone()),
        (event_module, event_class, event(module, provider, v)),
    ]
}

/// Validates every file with terra-python; panics with its report when any fails.
pub fn validate(files: &[Checked<'_>]) {
    // terra-python is the contract: without it this test fails, it never skips.
    let pythonpath = std::env::var("PULSEGATE_TERRA_PYTHONPATH").unwrap_or_default();
    let importable = Command::new("python3")
        .env("PYTHONPATH", &pythonpath)
        .args(["-c", "import terra, pydantic"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        importable,
        "terra-python is not importable: `python3 -m pip install terra-python==1.1.0`"
    );
    assert!(!files.is_empty(), "nothing to validate");
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = Vec::new();
    for (i, (module, class, value)) in files.iter().enumerate() {
        let path = dir.path().join(format!("{i}_{module}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
        manifest.push(json!([path, module, class]));
    }
    let manifest_path = dir.path().join("manifest.json");
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let script = dir.path().join("check.py");
    std::fs::write(&script, CHECK_PY).unwrap();
    let out = Command::new("python3")
        .env("PYTHONPATH", &pythonpath)
        .arg(&script)
        .arg(&manifest_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "terra-python rejected the mapping:\n{stdout}{stderr}"
    );
    assert_eq!(stdout.matches("ok: ").count(), files.len(), "{stdout}");
}

/// terra-python's pydantic models, strict, with Terra's aliases, and no key the model
/// does not know (the models allow extras, so unknown keys are looked for too).
const CHECK_PY: &str = r#"
import importlib, json, sys, typing
import pydantic
from terra.core.serialization import convert_and_respect_annotation_metadata, get_field_to_alias_mapping

def strip(ann):
    while True:
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            ann = typing.get_args(ann)[0]
        elif origin is typing.Union and type(None) in typing.get_args(ann):
            rest = [a for a in typing.get_args(ann) if a is not type(None)]
            if len(rest) != 1:
                return ann
            ann = rest[0]
        else:
            return ann

def unknown_keys(obj, ann, path, out):
    ann = strip(ann)
    if typing.get_origin(ann) in (list, typing.List):
        if isinstance(obj, list):
            for i, x in enumerate(obj):
                unknown_keys(x, typing.get_args(ann)[0], f"{path}[{i}]", out)
    elif isinstance(ann, type) and issubclass(ann, pydantic.BaseModel) and isinstance(obj, dict):
        hints = typing.get_type_hints(ann, include_extras=True)
        aliases = get_field_to_alias_mapping(ann)
        wire = {aliases.get(n, n): n for n in ann.model_fields}
        for k, v in obj.items():
            if k in wire:
                unknown_keys(v, hints[wire[k]], f"{path}.{k}", out)
            elif ann.__name__ == "TerraUser" and k == "created_at" and isinstance(v, (str, type(None))):
                # In Terra's payloads and docs, not in terra-python 1.1.0's TerraUser.
                pass
            else:
                out.append(f"{path}.{k}")

failures = 0
for file, module, cls_name in json.load(open(sys.argv[1])):
    cls = getattr(importlib.import_module(f"terra.types.{module}"), cls_name)
    data = json.load(open(file))
    problems = []
    unknown_keys(data, cls, cls_name, problems)
    problems = [f"unknown field {p}" for p in problems]
    try:
        obj = convert_and_respect_annotation_metadata(object_=data, annotation=cls, direction="read")
        cls.model_validate(obj, strict=True)
    except pydantic.ValidationError as e:
        problems.append(f"validation error: {e}")
    print(("ok" if not problems else "FAILED") + f": {cls_name} ({file.rsplit('/', 1)[-1]})")
    for p in problems:
        print("    " + p)
    failures += bool(problems)
sys.exit(1 if failures else 0)
"#;
