//! The OpenAPI document as a contract: the rules every operation follows, in one place.
//!
//! `rule_breaks` walks the generated document and names every operation that breaks a rule;
//! a route added later (on any branch) is held to the same rules the day it is merged.
//! The live test then holds the document to the server: every operation it says is secured
//! answers 401 without a token, every one it says is public does not. `.ci/contract` fuzzes
//! the rest (schemathesis against the served document).

use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

use crate::common::{Backend, TestApp};

/// The operations that need no bearer token (API.md "Conventions"). Every other operation
/// must require one and say so. `POST /v1/auth/logout` ends the session of the token it
/// carries, so it takes one.
const PUBLIC: [(&str, &str); 6] = [
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
];

const PROBLEM_JSON: &str = "application/problem+json";
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Follows a local `$ref` (`#/components/...`) to what it names.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => doc.pointer(pointer).map_or(&Value::Null, |target| resolve(doc, target)),
        None => value,
    }
}

/// Is `schema` the `Problem` schema, or one made of it (`allOf`, as a flattened `Problem`)?
fn is_problem(doc: &Value, schema: &Value) -> bool {
    schema["$ref"] == "#/components/schemas/Problem"
        || (schema["$ref"].is_string() && is_problem(doc, resolve(doc, schema)))
        || schema["allOf"]
            .as_array()
            .is_some_and(|parts| parts.iter().any(|part| is_problem(doc, part)))
}

/// `{name}` segments of a path template.
fn template_params(path: &str) -> BTreeSet<String> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
        .collect()
}

/// Every operation of the document: `(method, path, operation)`.
fn operations(doc: &Value) -> Vec<(&str, &str, &Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                all.push((method, path.as_str(), operation));
            }
        }
    }
    all
}

/// Every rule an operation of `doc` breaks, one line each (`METHOD /path: what`).
fn rule_breaks(doc: &Value) -> Vec<String> {
    let mut breaks = Vec::new();
    let operations = operations(doc);
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, operation) in &operations {
        if let Some(id) = operation["operationId"].as_str() {
            *ids.entry(id).or_default() += 1;
        }
    }
    let by_id: BTreeMap<&str, &Value> = operations
        .iter()
        .filter_map(|(_, _, op)| op["operationId"].as_str().map(|id| (id, *op)))
        .collect();
    for &(method, path, operation) in &operations {
        let mut broken = |rule: String| breaks.push(format!("{} {path}: {rule}", method.to_uppercase()));
        let responses = operation["responses"].as_object().cloned().unwrap_or_default();
        let has = |status: &str| responses.contains_key(status);

        match operation["operationId"].as_str() {
            None => broken("has no operationId".into()),
            Some(id) if ids[id] > 1 => broken(format!("shares its operationId `{id}`")),
            Some(_) => {}
        }

        // Parameters: each `{name}` of the path is declared in: path and required, and
        // nothing else is declared in: path.
        let parameters: Vec<&Value> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(doc, p))
            .collect();
        let in_path: BTreeSet<String> = parameters
            .iter()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect();
        let templated = template_params(path);
        for missing in templated.difference(&in_path) {
            broken(format!("does not declare its path parameter `{missing}`"));
        }
        for extra in in_path.difference(&templated) {
            broken(format!("declares `{extra}` in: path, which its path does not have"));
        }
        for p in parameters.iter().filter(|p| p["in"] == "path" && p["required"] != true) {
            broken(format!("path parameter `{}` is not required", p["name"]));
        }

        // Security: public operations need none; every other one needs the bearer token
        // and documents the 401 it answers without one.
        let requirements = operation["security"].as_array().cloned().unwrap_or_default();
        let secured = requirements
            .iter()
            .any(|r| r.as_object().is_some_and(|r| !r.is_empty()));
        let bearer = requirements.iter().any(|r| r.get("bearer").is_some());
        if PUBLIC.contains(&(method, path)) {
            if secured {
                broken("is public but has a security requirement".into());
            }
        } else if !bearer {
            broken("has no bearer security requirement and is not one of the public operations".into());
        }
        if secured && !has("401") {
            broken("is secured but does not document 401".into());
        }

        // What the middleware and extractors answer for every operation they apply to.
        if !muster::http::middleware::EXEMPT.contains(&path) && !has("429") {
            broken("is rate limited but does not document 429".into());
        }
        if !in_path.is_empty() && !has("404") {
            broken("has a path parameter (a malformed one is 404) but does not document 404".into());
        }
        if parameters.iter().any(|p| p["in"] == "query") && !has("422") {
            broken("has query parameters but does not document 422".into());
        }
        if operation.get("requestBody").is_some() {
            for status in ["400", "408", "413", "415", "422"] {
                if !has(status) {
                    broken(format!("reads a body but does not document {status}"));
                }
            }
        }

        // Responses: a success, a description on each, problem documents for every error.
        if !responses.keys().any(|s| s.starts_with('2')) {
            broken("documents no success answer".into());
        }
        for (status, response) in &responses {
            let response = resolve(doc, response);
            if response["description"].as_str().is_none_or(str::is_empty) {
                broken(format!("{status} has no description"));
            }
            let content = response["content"].as_object();
            let is_error = status.parse::<u16>().map_or(true, |s| s >= 400);
            if is_error {
                let types: Vec<&String> = content.into_iter().flat_map(|c| c.keys()).collect();
                if types != [PROBLEM_JSON] {
                    broken(format!("documents {status} as {types:?}, not only {PROBLEM_JSON}"));
                } else if !is_problem(doc, &response["content"][PROBLEM_JSON]["schema"]) {
                    broken(format!("documents {status} without the Problem schema"));
                }
            } else if status.starts_with('2') && status != "204" && content.is_none_or(|c| c.is_empty()) {
                broken(format!("{status} documents no body"));
            }
            // A body is described: every media type of an answer has a schema.
            for (media_type, body) in content.into_iter().flatten() {
                if body.get("schema").is_none() {
                    broken(format!("documents {status} as {media_type} without a schema"));
                }
            }
            // Links lead to operations that exist, naming parameters they have.
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                let target = link["operationId"].as_str().and_then(|id| by_id.get(id));
                let Some(target) = target else {
                    broken(format!("{status} link `{name}` names no operation of this document"));
                    continue;
                };
                let names: BTreeSet<&str> = target["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| resolve(doc, p)["name"].as_str())
                    .collect();
                for parameter in link["parameters"].as_object().into_iter().flat_map(|p| p.keys()) {
                    if !names.contains(parameter.as_str()) {
                        broken(format!(
                            "{status} link `{name}` sets `{parameter}`, which its target does not take"
                        ));
                    }
                }
            }
        }
    }
    // What a 201 creates can be used: it links to every operation on the object it made,
    // `{path}/{id}` and below, so the stateful phase of `.ci/contract` goes on to them.
    for &(method, path, operation) in &operations {
        let Some(created) = operation["responses"].get("201").map(|r| resolve(doc, r)) else {
            continue;
        };
        let object = format!("{path}/{{id}}");
        let linked: BTreeSet<&str> = created["links"]
            .as_object()
            .into_iter()
            .flat_map(|links| links.values())
            .filter_map(|link| link["operationId"].as_str())
            .collect();
        for &(_, target, on_it) in &operations {
            let below = target.strip_prefix(object.as_str());
            if below.is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', ':']))
                && let Some(id) = on_it["operationId"].as_str()
                && !linked.contains(id)
            {
                breaks.push(format!(
                    "{} {path}: 201 does not link to `{id}` on what it creates",
                    method.to_uppercase()
                ));
            }
        }
    }
    breaks
}

fn document() -> Value {
    serde_json::to_value(muster::http::routes::openapi()).expect("the document serialises")
}

#[test]
fn every_operation_follows_the_contract_rules() {
    let breaks = rule_breaks(&document());
    assert!(
        breaks.is_empty(),
        "the OpenAPI document breaks its rules:\n{}",
        breaks.join("\n")
    );
}

#[test]
fn every_public_operation_is_in_the_document() {
    let doc = document();
    for (method, path) in PUBLIC {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
}

/// The closed vocabularies of API.md are enums in the document, so a generated client gets
/// them as enum types and the fuzzer sends values the server takes.
#[test]
fn the_closed_vocabularies_are_enums() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    for (schema, field, values) in [
        (
            "Decision",
            "verdict",
            &["inside", "outside", "uncertain", "no_geofence"][..],
        ),
        ("Policy", "accuracy_rule", &["point", "strict", "lenient"][..]),
    ] {
        let property = resolve(&doc, &schemas[schema]["properties"][field]);
        assert_eq!(property["enum"], json!(values), "{schema}.{field}: {property}");
    }
}

/// The rules catch what they are there to catch: a document with one of each mistake.
#[test]
fn the_rules_catch_each_kind_of_break() {
    let problem = json!({"$ref": "#/components/responses/unauthorized"});
    let doc = json!({
        "paths": {
            "/v1/things/{id}": {
                "get": {
                    "operationId": "get_thing",
                    "responses": {"200": {"description": "OK", "content": {"application/json": {}}},
                        "401": problem, "429": {"$ref": "#/components/responses/rate_limited"}},
                    "security": [{"bearer": []}],
                },
                "put": {
                    "operationId": "get_thing",
                    "parameters": [{"name": "id", "in": "path", "required": true}],
                    "requestBody": {"content": {"application/json": {}}},
                    "responses": {"200": {"description": "OK", "content": {"application/json": {}},
                            "links": {"next": {"operationId": "nowhere"}}},
                        "404": {"description": "gone", "content": {"application/json": {}}}},
                },
            },
            "/v1/things": {
                "post": {
                    "operationId": "create_thing",
                    "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": {}}},
                        "links": {"thing": {"operationId": "get_thing", "parameters": {"id": "$response.body#/id"}}}}},
                },
            },
            "/v1/things/{id}:archive": {
                "post": {
                    "operationId": "archive_thing",
                    "responses": {"200": {"description": "OK", "content": {"image/png": {}}}},
                },
            },
            "/healthz": {"get": {"operationId": "healthz", "security": [{"bearer": []}],
                "responses": {"200": {"description": "OK", "content": {"application/json": {}}}}}},
        },
        "components": {
            "responses": {
                "unauthorized": {"description": "no token",
                    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}},
                "rate_limited": {"description": "slow down",
                    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Other"}}}},
            },
            "schemas": {"Problem": {}, "Other": {}},
        },
    });
    let breaks = rule_breaks(&doc).join("\n");
    for expected in [
        "GET /v1/things/{id}: does not declare its path parameter `id`",
        "GET /v1/things/{id}: documents 429 without the Problem schema",
        "PUT /v1/things/{id}: shares its operationId `get_thing`",
        "PUT /v1/things/{id}: has no bearer security requirement",
        "PUT /v1/things/{id}: is rate limited but does not document 429",
        "PUT /v1/things/{id}: reads a body but does not document 415",
        "PUT /v1/things/{id}: documents 404 as [\"application/json\"]",
        "PUT /v1/things/{id}: 200 link `next` names no operation",
        "GET /healthz: is public but has a security requirement",
        "POST /v1/things/{id}:archive: documents 200 as image/png without a schema",
        "POST /v1/things: 201 does not link to `archive_thing` on what it creates",
    ] {
        assert!(breaks.contains(expected), "missed `{expected}` in:\n{breaks}");
    }
    assert!(!breaks.contains("GET /healthz: is rate limited"), "{breaks}");
    assert!(!breaks.contains("does not link to `get_thing`"), "{breaks}");
}

/// A request for `path` with every `{parameter}` filled in: a fresh id, or a valid role.
fn concrete(path: &str) -> String {
    let mut path = path.to_owned();
    for name in template_params(&path.clone()) {
        let value = if name == "role" {
            "employee".to_owned()
        } else {
            uuid::Uuid::new_v4().to_string()
        };
        path = path.replace(&format!("{{{name}}}"), &value);
    }
    path
}

/// The document's security is the server's: without a token, every secured operation is a
/// 401 problem document and no public one is a 401. The served document is the generated one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_requires_a_token_exactly_where_the_document_says() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let doc = document();
    let served = app.send(Method::GET, "/openapi.json", None, None).await.expect(200);
    assert_eq!(served, doc, "the served document is not the generated one");
    let mut checked = 0;
    for (method, path, operation) in operations(&doc) {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let answer = app.send(method.clone(), &concrete(path), None, None).await;
        let secured = operation["security"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r.get("bearer").is_some()));
        if secured {
            let content_type = answer.headers.get("content-type").and_then(|v| v.to_str().ok());
            assert!(
                answer.status == 401 && content_type == Some(PROBLEM_JSON) && answer.body["code"] == "unauthorized",
                "{method} {path} is secured but answered {} ({content_type:?}) without a token: {}",
                answer.status,
                answer.text
            );
        } else {
            assert_ne!(
                answer.status, 401,
                "{method} {path} is public but answered 401: {}",
                answer.text
            );
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} operations checked");
}
