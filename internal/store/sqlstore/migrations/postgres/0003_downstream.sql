-- Downstream flows in progress: authorization codes and device authorizations of our
-- own OAuth server. Both are short-lived and single use; the background sweeper
-- removes them once they expire (DeleteExpired*), hence the indexes on expires_at.
-- Times are microseconds since the epoch (UTC); NULL is "never" / "none".

CREATE TABLE authorization_codes (
    hash                  BYTEA PRIMARY KEY,         -- SHA-256 of the code
    application_id        BIGINT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    user_id               TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri          TEXT NOT NULL DEFAULT '',
    scopes                TEXT NOT NULL DEFAULT '[]',
    code_challenge        TEXT NOT NULL DEFAULT '',
    code_challenge_method TEXT NOT NULL DEFAULT '',
    family_id             TEXT NOT NULL DEFAULT '',
    -- A code is kept after use until it expires, so a second exchange is recognised
    -- (and the tokens of the first revoked) rather than answered "unknown".
    expires_at            BIGINT NOT NULL,
    used_at               BIGINT,
    created_at            BIGINT NOT NULL
);
CREATE INDEX authorization_codes_expires ON authorization_codes(expires_at);
-- For the cascades from applications and users.
CREATE INDEX authorization_codes_application ON authorization_codes(application_id);
CREATE INDEX authorization_codes_user ON authorization_codes(user_id);

CREATE TABLE device_authorizations (
    device_code_hash BYTEA PRIMARY KEY,              -- SHA-256 of the device code
    user_code        TEXT NOT NULL UNIQUE,           -- normalised: upper case, no dash
    application_id   BIGINT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    scopes           TEXT NOT NULL DEFAULT '[]',
    status           TEXT NOT NULL DEFAULT 'pending',
    -- Who approved or denied it; NULL while pending. Deleting that user deletes the
    -- authorization, so no token can be issued for a user who is gone.
    user_id          TEXT REFERENCES users(id) ON DELETE CASCADE,
    -- The polling interval, in microseconds (the unit of every time column), so
    -- slow_down can add any time.Duration without rounding to whole seconds.
    interval_us      BIGINT NOT NULL DEFAULT 0,
    last_polled_at   BIGINT,
    expires_at       BIGINT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX device_authorizations_expires ON device_authorizations(expires_at);
CREATE INDEX device_authorizations_application ON device_authorizations(application_id);
CREATE INDEX device_authorizations_user ON device_authorizations(user_id) WHERE user_id IS NOT NULL;

-- DeleteApplication cascades to grants and tokens by application_id; 0001 indexes
-- neither column on its own, so each deletion would scan both tables.
CREATE INDEX IF NOT EXISTS grants_application ON grants(application_id);
CREATE INDEX IF NOT EXISTS tokens_application ON tokens(application_id) WHERE application_id IS NOT NULL;
