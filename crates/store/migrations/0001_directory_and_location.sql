-- The directory (domains and their users) and the location service's checkpoint (bindings).
--
-- Written in SQL that SQLite and PostgreSQL both accept: TEXT and BIGINT only, no
-- backend-specific types, no AUTOINCREMENT/SERIAL. Secrets are digest HA1 values in lowercase
-- hex, never passwords.

CREATE TABLE domains (
    name TEXT NOT NULL PRIMARY KEY,
    -- Webhook URL, NULL when none.
    control TEXT,
    -- Digest algorithm tokens in challenge order, comma-separated: 'SHA-256,MD5'.
    digest TEXT NOT NULL,
    -- The account admin's HA1 values; both NULL when no admin credential is set.
    admin_md5 TEXT,
    admin_sha256 TEXT,
    CHECK ((admin_md5 IS NULL) = (admin_sha256 IS NULL))
);

CREATE TABLE users (
    domain TEXT NOT NULL REFERENCES domains (name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    md5 TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (domain, name)
);

-- `user_name`, not `user`: USER is a reserved word in PostgreSQL.
CREATE TABLE bindings (
    domain TEXT NOT NULL,
    user_name TEXT NOT NULL,
    contact TEXT NOT NULL,
    -- The binding's rank in the user's list (oldest first), so that a load gives the list back
    -- in the order it was saved.
    position BIGINT NOT NULL,
    -- Transport token: UDP, TCP, TLS, WS, WSS...
    transport TEXT NOT NULL,
    remote_ip TEXT NOT NULL,
    remote_port BIGINT NOT NULL,
    agent TEXT NOT NULL,
    call_id TEXT NOT NULL,
    cseq BIGINT NOT NULL,
    -- Unix seconds.
    registered_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    outstanding_pings BIGINT NOT NULL,
    PRIMARY KEY (domain, user_name, contact),
    FOREIGN KEY (domain, user_name) REFERENCES users (domain, name) ON DELETE CASCADE
);
