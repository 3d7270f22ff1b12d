-- PostgreSQL's 0006 adds triggers that tell other replicas what to evict from their
-- caches. A SQLite database has one server process, which evicts what it changes
-- itself; nothing to add here, but the number keeps both databases' versions equal.
SELECT 1;
