//! What a role other than the journal's owner needs: the grants, as a script.
//!
//! The journal belongs to the role that installs it (a migration role, typically). Capture
//! needs nothing from the writing role: the trigger functions are `SECURITY DEFINER` and
//! write the journal as its owner, whoever changed the row. No other role can write a
//! journal entry: `EXECUTE` on those functions is revoked from PUBLIC (so nobody else
//! can attach them to a table of their own), and the grants below never include `INSERT`
//! or `UPDATE` on `db_listenable.changes`. Outbox events go through
//! `db_listenable.enqueue_events`, which writes events only.

use super::journal::journal_object;
use super::name::JOURNAL_SCHEMA;
use super::quote::quote_ident;
use super::script::Script;

/// What a role does with the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Runs the runtime (router, workers, stats, dead letters, dashboard) and pushes
    /// changesets through the journal outbox: reads the journal behind cursors, owns the
    /// delivery state. Includes [`Access::Outbox`].
    Runtime,
    /// Pushes changesets through the journal outbox (`runtime::JournalOutbox`) and nothing
    /// else: executes `db_listenable.enqueue_events`.
    Outbox,
}

/// The `GRANT` statements that let `role` work with an installed journal as `access`
/// says. Run them as the journal's owner (or a superuser) after the journal script; they
/// are idempotent.
///
/// ```
/// use db_listenable::ddl::{Access, grants_script};
///
/// let grants = grants_script("app", Access::Runtime).to_string();
/// assert!(grants.contains(r#"GRANT SELECT ON "db_listenable"."changes" TO "app""#));
/// assert!(!grants.contains("INSERT ON \"db_listenable\".\"changes\""));
/// ```
pub fn grants_script(role: &str, access: Access) -> Script {
    let role = quote_ident(role);
    let mut script = Script::new();
    script.push(format!("GRANT USAGE ON SCHEMA {} TO {role}", quote_ident(JOURNAL_SCHEMA)));
    script.push(format!("GRANT EXECUTE ON FUNCTION {}(jsonb) TO {role}", journal_object("enqueue_events")));
    if access == Access::Runtime {
        // `schema_versions`: the runtime refuses to start on a layout it cannot run against.
        script.push(format!(
            "GRANT SELECT ON {}, {} TO {role}",
            journal_object("tables"),
            journal_object("schema_versions")
        ));
        // Subscribers read the journal behind their cursors, and the claim reads how far its
        // sequence has gone; the router empties partitions through `maintain`, which runs
        // as the journal's owner. Nothing of the journal is written by this role.
        script.push(format!("GRANT SELECT ON {} TO {role}", journal_object("changes")));
        script.push(format!("GRANT SELECT ON SEQUENCE {} TO {role}", journal_object("changes_id_seq")));
        script.push(format!("GRANT EXECUTE ON FUNCTION {}(bigint) TO {role}", journal_object("maintain")));
        script.push(format!("GRANT EXECUTE ON FUNCTION {}() TO {role}", journal_object("allocated_id")));
        // A subscriber's journal backlog, which stats read (and operators may query).
        script.push(format!("GRANT EXECUTE ON FUNCTION {}(integer) TO {role}", journal_object("pending_entries")));
        let state: Vec<String> =
            ["subscribers", "cursors", "settled", "resume_points", "deliveries", "dead_letters", "unrouted"]
                .into_iter()
                .map(journal_object)
                .collect();
        script.push(format!("GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {role}", state.join(", ")));
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outbox_writer_gets_the_function_only() {
        let grants = grants_script("writer", Access::Outbox).to_string();
        assert!(grants.contains(r#"GRANT EXECUTE ON FUNCTION "db_listenable"."enqueue_events"(jsonb) TO "writer""#));
        assert!(!grants.contains("ON \"db_listenable\".\"changes\""), "{grants}");
    }

    #[test]
    fn role_names_are_quoted() {
        let grants = grants_script("app\"; DROP TABLE x; --", Access::Runtime).to_string();
        assert!(grants.contains(r#"TO "app""; DROP TABLE x; --""#), "{grants}");
    }
}
