//! The OpenAPI document, generated from the handlers' annotations, and a plain HTML page
//! rendered from it on the server (no JavaScript, no assets fetched from anywhere).

use std::fmt::Write as _;
use std::sync::OnceLock;

use axum::Json;
use axum::response::Html;
use serde_json::Value;
use utoipa::OpenApi;

use super::error::ErrorBody;
use super::{applications, chats, health, messages, search};

/// The API's OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "chats",
        description = "Applications, chats and messages, with partial-match search. Chat and message \
                       numbers are assigned at once, gapless; counters and the search index follow every \
                       change to the database, whoever makes it, a moment after it commits. Errors are \
                       {\"error\": \"...\"}."
    ),
    paths(
        health::healthz,
        applications::create, applications::show, applications::update,
        chats::create, chats::list, chats::show, chats::delete, chats::reindex,
        messages::create, messages::list, messages::show, messages::update, messages::delete,
        search::search,
    ),
    components(schemas(
        applications::Application, applications::ApplicationInput, chats::Chat, chats::Reindexed,
        messages::Message, messages::MessageInput, health::Health, ErrorBody,
    )),
    tags(
        (name = "applications", description = "Applications: the owners of chats, named by a token"),
        (name = "chats", description = "Chats, numbered from 1 in each application"),
        (name = "messages", description = "Messages, numbered from 1 in each chat"),
        (name = "search", description = "Partial-match search over one server instance's index"),
        (name = "operations", description = "Readiness"),
    )
)]
pub struct ApiDoc;

/// The document as JSON, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    // The document is built from constant annotations: serialising it cannot fail short
    // of a bug in utoipa, and then an empty document is the least harmful answer.
    DOCUMENT.get_or_init(|| serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null))
}

/// `GET /api-docs/openapi.json`.
pub async fn openapi_json() -> Json<Value> {
    Json(document().clone())
}

/// `GET /api-docs`: the document as a page a person reads.
pub async fn page() -> Html<String> {
    static PAGE: OnceLock<String> = OnceLock::new();
    Html(PAGE.get_or_init(|| render(document())).clone())
}

/// Renders an OpenAPI document as HTML: each operation with its parameters, request
/// body and responses, then each schema with its properties.
pub fn render(doc: &Value) -> String {
    let title = text(&doc["info"]["title"]);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} API</title>\
         <style>body{{font-family:sans-serif;max-width:60em;margin:auto;padding:1em}}\
         code,.path{{font-family:monospace}}table{{border-collapse:collapse;margin:.5em 0}}\
         td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left}}\
         .method{{font-weight:bold;text-transform:uppercase}}section{{border-top:1px solid #ddd;margin-top:1em}}\
         </style></head><body>\n<h1>{title} API <small>{}</small></h1>\n<p>{}</p>\n\
         <p>Machine-readable: <a href=\"/api-docs/openapi.json\">openapi.json</a></p>\n<h2>Operations</h2>\n",
        text(&doc["info"]["version"]),
        text(&doc["info"]["description"]),
    );
    let empty = serde_json::Map::new();
    for (path, item) in doc["paths"].as_object().unwrap_or(&empty) {
        for (method, operation) in item.as_object().unwrap_or(&empty) {
            render_operation(&mut html, path, method, operation);
        }
    }
    html.push_str("<h2>Schemas</h2>\n");
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap_or(&empty) {
        let _ = writeln!(html, "<section id=\"schema-{0}\"><h3>{0}</h3>", escape(name));
        render_properties(&mut html, schema);
        html.push_str("</section>\n");
    }
    html.push_str("</body></html>\n");
    html
}

fn render_operation(html: &mut String, path: &str, method: &str, operation: &Value) {
    let _ = write!(
        html,
        "<section><h3><span class=\"method\">{}</span> <span class=\"path\">{}</span></h3>\n<p>{}</p>\n",
        escape(method),
        escape(path),
        text(&operation["description"]).or_if_empty(text(&operation["summary"])),
    );
    if let Some(parameters) = operation["parameters"].as_array().filter(|p| !p.is_empty()) {
        html.push_str(
            "<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Required</th><th>Description</th></tr>\n",
        );
        for parameter in parameters {
            let _ = writeln!(
                html,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(&parameter["name"]),
                text(&parameter["in"]),
                type_of(&parameter["schema"]),
                if parameter["required"].as_bool() == Some(true) { "yes" } else { "no" },
                text(&parameter["description"]),
            );
        }
        html.push_str("</table>\n");
    }
    if let Some(schema) = json_schema(&operation["requestBody"]) {
        let _ = writeln!(html, "<p>Request body: {}</p>", type_of(schema));
    }
    if let Some(responses) = operation["responses"].as_object() {
        html.push_str("<table><tr><th>Status</th><th>Description</th><th>Body</th></tr>\n");
        for (status, response) in responses {
            let body = json_schema(response).map(type_of).unwrap_or_default();
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{body}</td></tr>",
                escape(status),
                text(&response["description"]),
            );
        }
        html.push_str("</table>\n");
    }
    html.push_str("</section>\n");
}

fn render_properties(html: &mut String, schema: &Value) {
    let Some(properties) = schema["properties"].as_object() else {
        let _ = writeln!(html, "<p>{}</p>", type_of(schema));
        return;
    };
    let required: Vec<&str> =
        schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    html.push_str("<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr>\n");
    for (name, property) in properties {
        let _ = writeln!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(name),
            type_of(property),
            if required.contains(&name.as_str()) { "yes" } else { "no" },
            text(&property["description"]),
        );
    }
    html.push_str("</table>\n");
}

/// The `application/json` schema of a request body or response.
fn json_schema(holder: &Value) -> Option<&Value> {
    holder["content"]["application/json"]["schema"]
        .as_object()
        .map(|_| &holder["content"]["application/json"]["schema"])
}

/// A schema's type as HTML: a link to a named schema, `array of ...`, or the type name.
fn type_of(schema: &Value) -> String {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("<a href=\"#schema-{0}\">{0}</a>", escape(name));
    }
    match schema["type"].as_str() {
        Some("array") => format!("array of {}", type_of(&schema["items"])),
        Some(kind) => {
            let format = schema["format"].as_str().map(|f| format!(" ({})", escape(f))).unwrap_or_default();
            format!("{}{format}", escape(kind))
        }
        None => match schema["type"].as_array() {
            // utoipa writes optional values as `["integer", "null"]`.
            Some(kinds) => escape(&kinds.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" or ")),
            None => String::new(),
        },
    }
}

/// A string value of the document, HTML-escaped (empty when absent).
fn text(value: &Value) -> String {
    value.as_str().map(escape).unwrap_or_default()
}

trait OrIfEmpty {
    fn or_if_empty(self, other: String) -> String;
}

impl OrIfEmpty for String {
    fn or_if_empty(self, other: String) -> String {
        if self.is_empty() { other } else { self }
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_route_and_the_page_shows_them() {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths");
        for path in [
            "/api/v1/applications",
            "/api/v1/applications/{token}",
            "/api/v1/applications/{token}/chats/{number}/messages/search",
            "/api/v1/applications/{token}/chats/{number}/reindex",
        ] {
            assert!(paths.contains_key(path), "{path} missing");
        }
        let html = render(doc);
        assert!(html.contains("/api/v1/applications/{token}/chats/{number}/messages/search"));
        assert!(html.contains("id=\"schema-Message\""));
        assert!(!html.contains("<script"), "no scripts");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
