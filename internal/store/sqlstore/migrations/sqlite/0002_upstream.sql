-- Upstream: OAuth clients at Git providers, the connections made through them, and
-- upstream flows in progress.
-- Times are microseconds since the epoch (UTC); NULL is "never" / "none". Sealed
-- columns (see sealed.go) are TEXT NOT NULL, '' meaning "no secret".

CREATE TABLE oauth_clients (
    id                   TEXT PRIMARY KEY,
    slug                 TEXT NOT NULL DEFAULT '',
    org_id               TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name                 TEXT NOT NULL DEFAULT '',
    kind                 TEXT NOT NULL,
    http_url             TEXT NOT NULL DEFAULT '',
    api_url              TEXT NOT NULL DEFAULT '',
    key                  TEXT NOT NULL DEFAULT '',
    secret               TEXT NOT NULL DEFAULT '',
    rsa_public_key       TEXT NOT NULL DEFAULT '',
    private_key          TEXT NOT NULL DEFAULT '',
    scopes               TEXT NOT NULL DEFAULT '[]',
    organization_scoped  INTEGER NOT NULL DEFAULT 1,
    device_flow_disabled INTEGER NOT NULL DEFAULT 0,
    agent_pool_id        TEXT NOT NULL DEFAULT '',
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
-- The slug is optional; only the ones that are set must be unique.
CREATE UNIQUE INDEX oauth_clients_slug ON oauth_clients(slug) WHERE slug <> '';
CREATE INDEX oauth_clients_org ON oauth_clients(org_id, created_at);

-- The projects a client that is not organization-scoped serves (OAuthClient.ProjectIDs).
-- Deleting the project removes it from the list.
CREATE TABLE oauth_client_projects (
    oauth_client_id TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    PRIMARY KEY (oauth_client_id, project_id)
);
CREATE INDEX oauth_client_projects_project ON oauth_client_projects(project_id);

CREATE TABLE connections (
    id                  TEXT PRIMARY KEY,
    oauth_client_id     TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    owner_kind          TEXT NOT NULL,
    -- The owner of a user-owned connection, and the creator of the others. For the
    -- others it is only informational, so it has no foreign key: the connection
    -- outlives the person who created it.
    owner_user_id       TEXT NOT NULL DEFAULT '',
    -- owner_user_id again when owner_kind = 'user', NULL otherwise: its foreign key
    -- deletes a person's own connections with the person, and leaves the
    -- organization's and projects' connections alone.
    owning_user_id      TEXT REFERENCES users(id) ON DELETE CASCADE,
    owner_org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    owner_project_id    TEXT REFERENCES projects(id) ON DELETE CASCADE,
    name                TEXT NOT NULL DEFAULT '',
    credential_kind     TEXT NOT NULL,
    username            TEXT NOT NULL DEFAULT '',
    access_token        TEXT NOT NULL DEFAULT '',
    refresh_token       TEXT NOT NULL DEFAULT '',
    token_type          TEXT NOT NULL DEFAULT '',
    scopes              TEXT NOT NULL DEFAULT '[]',
    expires_at          BIGINT,
    ssh_key             TEXT NOT NULL DEFAULT '',
    upstream_id         TEXT NOT NULL DEFAULT '',
    upstream_login      TEXT NOT NULL DEFAULT '',
    upstream_name       TEXT NOT NULL DEFAULT '',
    avatar_url          TEXT NOT NULL DEFAULT '',
    profile_url         TEXT NOT NULL DEFAULT '',
    health              TEXT NOT NULL DEFAULT '',
    health_reason       TEXT NOT NULL DEFAULT '',
    last_refresh_at     BIGINT,
    last_success_at     BIGINT,
    refresh_lease_until BIGINT,
    refresh_lease_owner TEXT NOT NULL DEFAULT '',
    version             BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CHECK (owning_user_id IS NULL OR (owner_kind = 'user' AND owning_user_id = owner_user_id))
);
-- A project's connections are known by name (the ServiceStage dialect); rows of other
-- owners have a NULL owner_project_id and never collide. Also serves the project's
-- foreign key and owner lookups.
CREATE UNIQUE INDEX connections_project_name ON connections(owner_project_id, name);
CREATE INDEX connections_client ON connections(oauth_client_id, created_at);
CREATE INDEX connections_owner_user ON connections(owner_user_id, created_at);
CREATE INDEX connections_owning_user ON connections(owning_user_id);
CREATE INDEX connections_owner_org ON connections(owner_org_id, created_at);
-- The background refresher's question (ConnectionsExpiringBefore).
CREATE INDEX connections_expiring ON connections(expires_at)
    WHERE credential_kind = 'oauth' AND refresh_token <> '' AND expires_at IS NOT NULL;

CREATE TABLE flow_states (
    id               TEXT PRIMARY KEY,
    -- NULL for device flows, which have no state parameter.
    state_hash       BLOB UNIQUE,
    oauth_client_id  TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    user_id          TEXT REFERENCES users(id) ON DELETE CASCADE,
    owner_kind       TEXT NOT NULL DEFAULT '',
    owner_project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    name             TEXT NOT NULL DEFAULT '',
    origin           TEXT NOT NULL DEFAULT '',
    repo_type        TEXT NOT NULL DEFAULT '',
    pkce_verifier    TEXT NOT NULL DEFAULT '',
    device_code      TEXT NOT NULL DEFAULT '',
    return_to        TEXT NOT NULL DEFAULT '',
    expires_at       BIGINT NOT NULL,
    used_at          BIGINT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX flow_states_expires ON flow_states(expires_at);
CREATE INDEX flow_states_client ON flow_states(oauth_client_id);
CREATE INDEX flow_states_user ON flow_states(user_id);
CREATE INDEX flow_states_project ON flow_states(owner_project_id);
