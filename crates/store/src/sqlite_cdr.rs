//! Call detail records on SQLite: the `cdrs` table of migration 0002, written in batches and
//! read a keyset page at a time. [`SqliteStore`](crate::SqliteStore)'s `insert_cdrs` and
//! `query_cdrs` call these with its writer and reader pools.

use pbx::{Cause, Cdr, CdrCursor, CdrPage, CdrQuery, HangupBy, StoreError};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::codec::{self, sqlx_error};

/// Records per multi-row INSERT: 14 parameters each stays well under SQLite's limit of
/// 32,766 bound parameters per statement.
const INSERT_CHUNK: usize = 500;

/// The columns of a CDR, in the order both statements use.
const COLUMNS: &str = "id, domain, call_id, from_user, to_user, start_at, answer_at, end_at, \
                       duration, billsec, cause_code, cause_reason, hangup_by, codecs";

/// Inserts `cdrs` in one transaction; ids stored already are skipped.
pub(crate) async fn insert(writer: &SqlitePool, cdrs: &[Cdr]) -> Result<(), StoreError> {
    if cdrs.is_empty() {
        return Ok(());
    }
    // BEGIN IMMEDIATE, as every write of this store: see `SqliteStore::begin_write`.
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(sqlx_error)?;
    for chunk in cdrs.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::<Sqlite>::new(format!("INSERT INTO cdrs ({COLUMNS}) "));
        q.push_values(chunk, |mut v, c| {
            v.push_bind(c.id.clone())
                .push_bind(c.domain.to_ascii_lowercase())
                .push_bind(c.call_id.clone())
                .push_bind(c.from.clone())
                .push_bind(c.to.clone())
                .push_bind(codec::seconds_to_column(c.start))
                .push_bind(c.answer.map(codec::seconds_to_column))
                .push_bind(codec::seconds_to_column(c.end))
                .push_bind(codec::seconds_to_column(c.duration))
                .push_bind(codec::seconds_to_column(c.billsec))
                .push_bind(i64::from(c.cause.code))
                .push_bind(c.cause.reason.clone())
                .push_bind(c.hangup_by.as_str())
                .push_bind(codecs_to_column(&c.codecs));
        });
        // The first write of an id wins: a retried batch changes nothing.
        q.push(" ON CONFLICT (id) DO NOTHING");
        q.build().execute(&mut *tx).await.map_err(sqlx_error)?;
    }
    tx.commit().await.map_err(sqlx_error)?;
    Ok(())
}

/// The days with calls of `domain` (from or to `user`), by one index seek per day: the first
/// call at or after the start of the day after the last one found.
pub(crate) async fn days(
    reader: &SqlitePool,
    domain: &str,
    user: Option<&str>,
) -> Result<Vec<u64>, StoreError> {
    const DAY: u64 = 86_400;
    let domain = domain.to_ascii_lowercase();
    let mut days = Vec::new();
    let mut from = 0u64;
    loop {
        let mut q = QueryBuilder::<Sqlite>::new("SELECT MIN(start_at) FROM cdrs WHERE domain = ");
        q.push_bind(domain.clone())
            .push(" AND start_at >= ")
            .push_bind(codec::seconds_to_column(from));
        if let Some(user) = user {
            q.push(" AND (from_user = ")
                .push_bind(user.to_owned())
                .push(" OR to_user = ")
                .push_bind(user.to_owned())
                .push(")");
        }
        let first: Option<i64> = q
            .build_query_scalar()
            .fetch_one(reader)
            .await
            .map_err(sqlx_error)?;
        let Some(first) = first.and_then(|s| u64::try_from(s).ok()) else {
            return Ok(days);
        };
        let day = first / DAY;
        if days.last() == Some(&day) {
            // Only at the end of the column's range, where the next day cannot be written.
            return Ok(days);
        }
        days.push(day);
        from = (day + 1).saturating_mul(DAY);
    }
}

/// One page of `query`.
pub(crate) async fn query(reader: &SqlitePool, query: &CdrQuery) -> Result<CdrPage, StoreError> {
    let size = query.page_size();
    let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM cdrs WHERE domain = "));
    q.push_bind(query.domain.to_ascii_lowercase());
    if let Some(since) = query.since {
        q.push(" AND start_at >= ")
            .push_bind(codec::seconds_to_column(since));
    }
    if let Some(until) = query.until {
        q.push(" AND start_at < ")
            .push_bind(codec::seconds_to_column(until));
    }
    if let Some(user) = &query.user {
        q.push(" AND (from_user = ")
            .push_bind(user.clone())
            .push(" OR to_user = ")
            .push_bind(user.clone())
            .push(")");
    }
    if let Some(after) = &query.after {
        // (start_at, id) > (after.start, after.id), written so that the range on start_at can
        // use the index.
        let start = codec::seconds_to_column(after.start);
        q.push(" AND start_at >= ")
            .push_bind(start)
            .push(" AND (start_at > ")
            .push_bind(start)
            .push(" OR id > ")
            .push_bind(after.id.clone())
            .push(")");
    }
    // One more than a page: whether it comes tells whether there is a next page.
    q.push(" ORDER BY start_at, id LIMIT ")
        .push_bind(i64::try_from(size.saturating_add(1)).unwrap_or(i64::MAX));
    let rows = q.build().fetch_all(reader).await.map_err(sqlx_error)?;
    let mut cdrs = rows
        .iter()
        .map(cdr_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if cdrs.len() > size {
        cdrs.truncate(size);
        cdrs.last().map(CdrCursor::of)
    } else {
        None
    };
    Ok(CdrPage { cdrs, next })
}

fn cdr_from_row(row: &SqliteRow) -> Result<Cdr, StoreError> {
    let int = |col: &str| -> Result<i64, StoreError> { row.try_get(col).map_err(sqlx_error) };
    let text = |col: &str| -> Result<String, StoreError> { row.try_get(col).map_err(sqlx_error) };
    let seconds = |col: &str| codec::u64_from_column(int(col)?, col);
    let answer: Option<i64> = row.try_get("answer_at").map_err(sqlx_error)?;
    let code = int("cause_code")?;
    let hangup_by = text("hangup_by")?;
    Ok(Cdr {
        id: text("id")?,
        domain: text("domain")?,
        call_id: text("call_id")?,
        from: text("from_user")?,
        to: text("to_user")?,
        start: seconds("start_at")?,
        answer: answer
            .map(|a| codec::u64_from_column(a, "answer_at"))
            .transpose()?,
        end: seconds("end_at")?,
        duration: seconds("duration")?,
        billsec: seconds("billsec")?,
        cause: Cause {
            code: u16::try_from(code)
                .map_err(|_| StoreError::Corrupt(format!("cause_code out of range: {code}")))?,
            reason: text("cause_reason")?,
        },
        hangup_by: HangupBy::parse(&hangup_by).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "unknown hangup_by {:?}",
                hangup_by.chars().take(40).collect::<String>()
            ))
        })?,
        codecs: codecs_from_column(&text("codecs")?)?,
    })
}

/// The `codecs` column: a JSON array of strings, so that no codec text can break it.
fn codecs_to_column(codecs: &[String]) -> String {
    // A list of strings always serializes.
    serde_json::to_string(codecs).unwrap_or_else(|_| "[]".to_owned())
}

fn codecs_from_column(s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s)
        .map_err(|_| StoreError::Corrupt("codecs is not a JSON array of strings".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_column() {
        for list in [
            vec![],
            vec!["PCMU/8000".to_owned()],
            vec!["a,b".to_owned(), "\"q\"\n".to_owned()],
        ] {
            assert_eq!(
                codecs_from_column(&codecs_to_column(&list)).expect("round trip"),
                list
            );
        }
        assert!(matches!(
            codecs_from_column("PCMU/8000"),
            Err(StoreError::Corrupt(_))
        ));
    }
}
