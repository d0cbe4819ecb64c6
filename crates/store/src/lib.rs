//! Storage for switchboard: the [`pbx::Store`] trait on embedded SQLite ([`SqliteStore`], the
//! default) and, later, PostgreSQL (DESIGN.md section 3, layer 5).
//!
//! Queries are checked at run time (`sqlx::query`), not at compile time: one code base serves
//! both databases, and the build needs no database. The schema lives in plain `.sql` files under
//! `migrations/`, applied at start-up. [`conformance`] is the behaviour every backend must show;
//! each backend runs it from its own test file.

#![warn(missing_docs)]

mod codec;
pub mod conformance;
mod migrations;
mod sqlite;
mod sqlite_cdr;

pub use sqlite::{DB_FILE, SqliteStore};
