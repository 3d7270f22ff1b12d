-- Cache notifications (notify.go): every row change a replica's cached answer may
-- depend on sends, when its transaction commits, a notification on the channel
-- vcsauth_cache naming what to evict: '<letter>:<key>', the letter and the key's
-- column given as the trigger's arguments. Cascaded deletes fire these triggers too,
-- so deleting an organization notifies for each of its connections and memberships.
CREATE FUNCTION vcsauth_cache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_key TEXT;
    new_key TEXT;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_key := to_jsonb(OLD) ->> TG_ARGV[1];
        PERFORM pg_notify('vcsauth_cache', TG_ARGV[0] || ':' || old_key);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_key := to_jsonb(NEW) ->> TG_ARGV[1];
        IF new_key IS DISTINCT FROM old_key THEN
            PERFORM pg_notify('vcsauth_cache', TG_ARGV[0] || ':' || new_key);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- Tokens and applications: new rows need no notification (misses are not cached).
CREATE TRIGGER tokens_cache_notify AFTER UPDATE OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION vcsauth_cache_notify('t', 'id');
CREATE TRIGGER applications_cache_notify AFTER UPDATE OR DELETE ON applications
    FOR EACH ROW EXECUTE FUNCTION vcsauth_cache_notify('a', 'id');
CREATE TRIGGER users_cache_notify AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION vcsauth_cache_notify('u', 'id');
-- What a person may use as a git credential: a new membership or connection
-- changes it as much as a deleted one.
CREATE TRIGGER memberships_cache_notify AFTER INSERT OR UPDATE OR DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION vcsauth_cache_notify('u', 'user_id');
CREATE TRIGGER connections_cache_notify AFTER INSERT OR UPDATE OR DELETE ON connections
    FOR EACH ROW EXECUTE FUNCTION vcsauth_cache_notify('o', 'owner_org_id');
CREATE TRIGGER oauth_clients_cache_notify AFTER UPDATE OR DELETE ON oauth_clients
    FOR EACH ROW EXECUTE FUNCTION vcsauth_cache_notify('o', 'org_id');
