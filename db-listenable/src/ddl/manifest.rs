//! What an installed capture provides, recorded beside it so that other code can judge
//! whether the capture covers its models: the key, the events, the excluded and quiet
//! columns and the granularity, with the fingerprint of the SQL they describe.
//!
//! During a rolling deploy, the new release's capture is installed while instances of the
//! old release still run and restart. Their fingerprint differs from the installed one,
//! yet the capture may give them everything they read: the drift check then reports a
//! [`crate::drift::Drift::Compatible`] difference instead of an outdated capture.
//!
//! The record lives in `db_listenable.tables.capture` (a `jsonb` column added by layout
//! version 2), not in the trigger's comment: a comment that changed with it would make
//! releases that compare the whole comment see every table as outdated.

use serde_json::{Value, json};

use super::config::{CaptureConfig, Granularity};
use super::journal::journal_object;
use super::quote::quote_literal;
use crate::model::{Events, Model};

/// The capture settings an installed capture was generated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureManifest {
    /// The fingerprint of the capture SQL it describes (as in the trigger's comment).
    pub fingerprint: String,
    /// The key columns, in order.
    pub key: Vec<String>,
    /// The operations captured.
    pub events: Events,
    /// Columns never journalled.
    pub exclude: Vec<String>,
    /// Columns whose change alone is not captured.
    pub quiet: Vec<String>,
    /// Row- or statement-level triggers.
    pub granularity: Granularity,
}

impl CaptureManifest {
    /// What [`super::install_script`] installs for `model` under `config`.
    pub fn of(model: &Model, config: &CaptureConfig) -> CaptureManifest {
        let capture = model.capture();
        let owned = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect();
        CaptureManifest {
            fingerprint: super::install_fingerprint(model, config),
            key: owned(&capture.key),
            events: capture.events,
            exclude: owned(&capture.exclude),
            quiet: owned(&capture.quiet),
            granularity: config.granularity,
        }
    }

    /// The JSON stored in `db_listenable.tables.capture`.
    pub fn to_json(&self) -> String {
        json!({
            "fingerprint": self.fingerprint,
            "key": self.key,
            "events": event_names(self.events),
            "exclude": self.exclude,
            "quiet": self.quiet,
            "granularity": granularity_name(self.granularity),
        })
        .to_string()
    }

    /// Reads [`to_json`](CaptureManifest::to_json)'s output back; `None` for anything
    /// else (a record by a later release in a shape this code does not know).
    pub fn parse(text: &str) -> Option<CaptureManifest> {
        let value: Value = serde_json::from_str(text).ok()?;
        let names = |field: &str| -> Option<Vec<String>> {
            value.get(field)?.as_array()?.iter().map(|v| v.as_str().map(str::to_owned)).collect()
        };
        let events = names("events")?;
        let has = |event: &str| events.iter().any(|e| e == event);
        let granularity = match value.get("granularity")?.as_str()? {
            "statement" => Granularity::Statement,
            "row" => Granularity::Row,
            _ => return None,
        };
        Some(CaptureManifest {
            fingerprint: value.get("fingerprint")?.as_str()?.to_owned(),
            key: names("key")?,
            events: Events {
                insert: has("insert"),
                update: has("update"),
                delete: has("delete"),
                truncate: has("truncate"),
            },
            exclude: names("exclude")?,
            quiet: names("quiet")?,
            granularity,
        })
    }

    /// What `model` needs that this capture does not provide, one phrase each; empty
    /// when every change the model reads is captured as it reads it: the same key (its
    /// per-row order and its changes' identity), its events, none of its columns
    /// excluded, and no column it reads quiet unless the model has it quiet too. More
    /// than it needs (other events, columns it does not read, fewer quiet or excluded
    /// columns, the other granularity, which journals the same changes) is no shortfall.
    pub fn shortfalls(&self, model: &Model) -> Vec<String> {
        let mut shortfalls = Vec::new();
        if self.key.iter().map(String::as_str).ne(model.key.iter().copied()) {
            shortfalls.push(format!(
                "the installed capture is keyed by {:?}, {} by {:?}",
                self.key, model.rust_name, model.key
            ));
        }
        let provided = event_names(self.events);
        let missing: Vec<&str> = event_names(model.events).into_iter().filter(|e| !provided.contains(e)).collect();
        if !missing.is_empty() {
            shortfalls.push(format!("events {missing:?} are not captured"));
        }
        let reads = |list: &[String]| -> Vec<&'static str> {
            model.columns.iter().map(|c| c.name).filter(|name| list.iter().any(|l| l == name)).collect()
        };
        let excluded = reads(&self.exclude);
        if !excluded.is_empty() {
            shortfalls.push(format!("columns {excluded:?}, which {} reads, are excluded", model.rust_name));
        }
        let quiet: Vec<&str> = reads(&self.quiet).into_iter().filter(|name| !model.quiet.contains(name)).collect();
        if !quiet.is_empty() {
            shortfalls.push(format!(
                "columns {quiet:?} are quiet: an update of them alone, which {} needs, is not captured",
                model.rust_name
            ));
        }
        shortfalls
    }

    /// What differs from what `model` under `config` would install, for a compatible
    /// capture's report (empty when only the SQL's text differs).
    pub fn differences(&self, model: &Model, config: &CaptureConfig) -> Vec<String> {
        let wanted = CaptureManifest::of(model, config);
        let mut differences = Vec::new();
        if self.events != wanted.events {
            differences.push(format!(
                "events {:?} (this code: {:?})",
                event_names(self.events),
                event_names(wanted.events)
            ));
        }
        for (what, installed, own) in
            [("exclude", &self.exclude, &wanted.exclude), ("quiet", &self.quiet, &wanted.quiet)]
        {
            if installed != own {
                differences.push(format!("{what} {installed:?} (this code: {own:?})"));
            }
        }
        if self.granularity != wanted.granularity {
            differences.push(format!(
                "granularity {} (this code: {})",
                granularity_name(self.granularity),
                granularity_name(wanted.granularity)
            ));
        }
        differences
    }
}

/// The captured operations' names, in a fixed order.
fn event_names(events: Events) -> Vec<&'static str> {
    [(events.insert, "insert"), (events.update, "update"), (events.delete, "delete"), (events.truncate, "truncate")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
}

fn granularity_name(granularity: Granularity) -> &'static str {
    match granularity {
        Granularity::Statement => "statement",
        Granularity::Row => "row",
    }
}

/// Records the manifest of `model`'s capture in its `db_listenable.tables` row.
pub(crate) fn record_manifest(model: &Model, config: &CaptureConfig) -> String {
    format!(
        "UPDATE {} SET capture = {}::jsonb WHERE id = {}",
        journal_object("tables"),
        quote_literal(&CaptureManifest::of(model, config).to_json()),
        super::table_id(model)
    )
}

/// The recorded manifests: schema, table and the JSON text. Run only on a journal of
/// layout version 2 or later (earlier ones lack the column).
pub const MANIFESTS_SQL: &str =
    "SELECT schema_name, table_name, capture::text FROM db_listenable.tables WHERE capture IS NOT NULL";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Column;

    const fn column(name: &'static str) -> Column {
        Column { name, field: name, optional: false }
    }

    const OLD: Model = Model {
        rust_name: "Old",
        schema: "public",
        table: "t",
        key: &["id"],
        columns: &[column("id"), column("a"), column("b")],
        quiet: &[],
        exclude: &[],
        events: Events::DEFAULT,
    };

    #[test]
    fn a_manifest_reads_back_what_it_wrote() {
        let manifest = CaptureManifest::of(&Model { quiet: &["b"], exclude: &["z"], ..OLD }, &CaptureConfig::default());
        assert_eq!(CaptureManifest::parse(&manifest.to_json()), Some(manifest));
        assert_eq!(CaptureManifest::parse("{\"key\": 1}"), None);
    }

    #[test]
    fn a_capture_covers_a_model_that_reads_less_and_names_what_it_lacks() {
        const NEWER: Model =
            Model { columns: &[column("id"), column("a"), column("b"), column("c")], quiet: &["c"], ..OLD };
        let newer = NEWER;
        let installed = CaptureManifest::of(&newer, &CaptureConfig::default());
        assert!(installed.shortfalls(&OLD).is_empty(), "{:?}", installed.shortfalls(&OLD));

        let quiet_b = CaptureManifest::of(&Model { quiet: &["b"], ..OLD }, &CaptureConfig::default());
        assert!(quiet_b.shortfalls(&OLD)[0].contains("[\"b\"] are quiet"), "{:?}", quiet_b.shortfalls(&OLD));
        assert!(quiet_b.shortfalls(&Model { quiet: &["b"], ..OLD }).is_empty(), "quiet for both");

        let no_delete = Events { delete: false, ..Events::DEFAULT };
        let installed = CaptureManifest::of(&Model { events: no_delete, ..OLD }, &CaptureConfig::default());
        assert_eq!(installed.shortfalls(&OLD), ["events [\"delete\"] are not captured"]);
    }
}
