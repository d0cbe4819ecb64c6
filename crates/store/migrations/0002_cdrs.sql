-- Call detail records: one row per call attempt (DESIGN.md section 15), written when the call
-- ends, never changed afterwards.
--
-- No foreign key to `domains`: deleting a domain keeps its CDRs, because billing data outlives
-- the account. Column names avoid SQL keywords (FROM, TO, END) so that the same file suits
-- SQLite and PostgreSQL.

CREATE TABLE cdrs (
    -- The PBX's call id (a UUID): a retried insert of the same record is ignored.
    id TEXT NOT NULL PRIMARY KEY,
    -- Lowercased, like the directory's domain names.
    domain TEXT NOT NULL,
    call_id TEXT NOT NULL,
    from_user TEXT NOT NULL,
    to_user TEXT NOT NULL,
    -- Unix seconds; answer_at NULL when the call was never answered.
    start_at BIGINT NOT NULL,
    answer_at BIGINT,
    end_at BIGINT NOT NULL,
    duration BIGINT NOT NULL,
    billsec BIGINT NOT NULL,
    cause_code BIGINT NOT NULL,
    cause_reason TEXT NOT NULL,
    -- 'caller', 'callee' or 'system'.
    hangup_by TEXT NOT NULL,
    -- A JSON array of strings: ["PCMU/8000", "telephone-event/8000"].
    codecs TEXT NOT NULL
);

-- GET /cdr/{domain}: keyset pages in (start, id) order, with or without since/until.
CREATE INDEX cdrs_by_domain_start ON cdrs (domain, start_at, id);
-- ...?user=: calls from the user, and calls to the user, each in page order.
CREATE INDEX cdrs_by_domain_from ON cdrs (domain, from_user, start_at, id);
CREATE INDEX cdrs_by_domain_to ON cdrs (domain, to_user, start_at, id);
