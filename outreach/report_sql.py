"""SQL of the report's running totals (PostgreSQL): the triggers and a rebuild from scratch.

See outreach/report_models.py. A consultation counts in the month of its local date (held_on)
and its country; only held consultations contribute beyond their status.
"""

# Appends the contributions of consultation `c` (as it was: OLD, or is: NEW) times `sign`.
EMIT = """
CREATE OR REPLACE FUNCTION outreach_report_emit(c outreach_consultation, sign integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m date := date_trunc('month', c.held_on)::date;
BEGIN
    INSERT INTO outreach_reportcount (month, country, kind, key, n)
        VALUES (m, c.country, 'status', c.status, sign);
    IF c.status <> 'held' THEN
        RETURN;
    END IF;
    INSERT INTO outreach_reportcount (month, country, kind, key, n)
        SELECT m, c.country, 'position', c.position, sign
        UNION ALL SELECT m, c.country, 'union', union_id::text, sign
            FROM outreach_consultation_unions WHERE consultation_id = c.id
        UNION ALL SELECT m, c.country, 'topic', topic_id::text, sign
            FROM outreach_consultation_topics WHERE consultation_id = c.id
        UNION ALL SELECT m, c.country, 'concern', concern_id::text, sign
            FROM outreach_consultation_concerns WHERE consultation_id = c.id
        UNION ALL SELECT m, c.country, 'followup', status, sign
            FROM outreach_followup WHERE consultation_id = c.id
        UNION ALL SELECT m, c.country, 'delay', hours::text, sign
            FROM outreach_reportfirstsent WHERE consultation_id = c.id;
    INSERT INTO outreach_reportreach (month, country, contact_id, n)
        SELECT m, c.country, contact_id, sign FROM outreach_attendance WHERE consultation_id = c.id
        UNION ALL SELECT NULL, '', contact_id, sign
            FROM outreach_attendance WHERE consultation_id = c.id;
END $$;

-- The first sent follow-up of a consultation, in whole hours after it started; with `emit`,
-- the change of bucket is appended too.
CREATE OR REPLACE FUNCTION outreach_report_first_sent(cid bigint, emit boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c outreach_consultation;
    before integer;
    after integer;
BEGIN
    -- Lock first, then read: a statement after the lock sees what others committed meanwhile.
    -- A lock on the consultation's id, not on its row of delays: there is no row to lock until
    -- its first follow-up is sent, and two sent at once would both count as its first. (Ids past
    -- 2^31 share a lock with a smaller one: a wait, never a wrong count.)
    PERFORM pg_advisory_xact_lock(hashtext('outreach_reportfirstsent'), (cid & 2147483647)::int);
    SELECT * INTO c FROM outreach_consultation WHERE id = cid;
    IF NOT FOUND THEN
        DELETE FROM outreach_reportfirstsent WHERE consultation_id = cid;
        RETURN;
    END IF;
    SELECT hours INTO before FROM outreach_reportfirstsent WHERE consultation_id = cid FOR UPDATE;
    SELECT floor(extract(epoch FROM min(f.sent_at) - c.starts_at) / 3600)::integer INTO after
        FROM outreach_followup AS f
        WHERE f.consultation_id = cid AND f.status = 'sent' AND f.sent_at IS NOT NULL;
    IF before IS NOT DISTINCT FROM after THEN
        RETURN;
    END IF;
    IF emit AND c.status = 'held' THEN
        INSERT INTO outreach_reportcount (month, country, kind, key, n)
            SELECT date_trunc('month', c.held_on)::date, c.country, 'delay', v.hours::text, v.sign
            FROM (VALUES (before, -1), (after, 1)) AS v(hours, sign)
            WHERE v.hours IS NOT NULL;
    END IF;
    IF after IS NULL THEN
        DELETE FROM outreach_reportfirstsent WHERE consultation_id = cid;
    ELSE
        INSERT INTO outreach_reportfirstsent (consultation_id, hours) VALUES (cid, after)
            ON CONFLICT (consultation_id) DO UPDATE SET hours = EXCLUDED.hours;
    END IF;
END $$;

-- Every monthly row gets a copy without a month, so that a report over all time (the dashboard's
-- first view) sums a few thousand rows rather than every month's. Folding and rebuilding write
-- rows that are sums already: they say so (outreach.folding) and get no copies. The copies'
-- own INSERT fires this trigger again (a statement trigger fires even for no rows): it finds no
-- monthly rows and stops there.
CREATE OR REPLACE FUNCTION outreach_reportcount_all_time() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('outreach.folding', true), '') <> 'on'
        AND EXISTS (SELECT FROM appended WHERE month IS NOT NULL) THEN
        INSERT INTO outreach_reportcount (month, country, kind, key, n)
            SELECT NULL, country, kind, key, n FROM appended WHERE month IS NOT NULL;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION outreach_consultation_report() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM outreach_report_emit(OLD, -1);
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.starts_at IS DISTINCT FROM NEW.starts_at THEN
        PERFORM outreach_report_first_sent(NEW.id, false);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM outreach_report_emit(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

-- A union, topic or concern linked to a consultation, or unlinked: TG_ARGV names the kind and
-- the column. The consultation row is share-locked so that a change of its status or month in
-- another transaction cannot pass this one unseen.
CREATE OR REPLACE FUNCTION outreach_link_report() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    change record;
    c outreach_consultation;
BEGIN
    FOR change IN
        SELECT to_jsonb(OLD) AS link, -1 AS sign WHERE TG_OP IN ('UPDATE', 'DELETE')
        UNION ALL SELECT to_jsonb(NEW), 1 WHERE TG_OP IN ('INSERT', 'UPDATE')
    LOOP
        SELECT * INTO c FROM outreach_consultation
            WHERE id = (change.link->>'consultation_id')::bigint FOR SHARE;
        CONTINUE WHEN NOT FOUND OR c.status <> 'held';
        IF TG_ARGV[0] = 'reach' THEN
            INSERT INTO outreach_reportreach (month, country, contact_id, n) VALUES
                (date_trunc('month', c.held_on)::date, c.country,
                 (change.link->>'contact_id')::bigint, change.sign),
                (NULL, '', (change.link->>'contact_id')::bigint, change.sign);
        ELSE
            INSERT INTO outreach_reportcount (month, country, kind, key, n) VALUES
                (date_trunc('month', c.held_on)::date, c.country, TG_ARGV[0],
                 change.link->>TG_ARGV[1], change.sign);
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

-- A follow-up's status, consultation or sending time changed. The consultation is read without
-- a lock: a sender must never wait on (or deadlock with) someone editing the consultation. The
-- first sent follow-up is looked at again only when a sent one comes or goes: under a lock of its
-- own, which only senders to the same consultation (and a change of its start) wait for, and
-- which queueing many follow-ups in one statement does not take.
CREATE OR REPLACE FUNCTION outreach_followup_report() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    c outreach_consultation;
    was_sent boolean := TG_OP <> 'INSERT' AND OLD.status = 'sent' AND OLD.sent_at IS NOT NULL;
    is_sent boolean := TG_OP <> 'DELETE' AND NEW.status = 'sent' AND NEW.sent_at IS NOT NULL;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.consultation_id IS NOT NULL THEN
        SELECT * INTO c FROM outreach_consultation WHERE id = OLD.consultation_id;
        IF FOUND AND c.status = 'held' THEN
            INSERT INTO outreach_reportcount (month, country, kind, key, n) VALUES
                (date_trunc('month', c.held_on)::date, c.country, 'followup', OLD.status, -1);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.consultation_id IS NOT NULL THEN
        SELECT * INTO c FROM outreach_consultation WHERE id = NEW.consultation_id;
        IF FOUND AND c.status = 'held' THEN
            INSERT INTO outreach_reportcount (month, country, kind, key, n) VALUES
                (date_trunc('month', c.held_on)::date, c.country, 'followup', NEW.status, 1);
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.consultation_id IS NOT NULL
        AND (was_sent OR is_sent) THEN
        PERFORM outreach_report_first_sent(OLD.consultation_id, true);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.consultation_id IS NOT NULL
        AND NEW.consultation_id IS DISTINCT FROM OLD.consultation_id AND is_sent THEN
        PERFORM outreach_report_first_sent(NEW.consultation_id, true);
    END IF;
    RETURN NULL;
END $$;
"""

TRIGGERS = """
CREATE TRIGGER outreach_reportcount_all_time
    AFTER INSERT ON outreach_reportcount REFERENCING NEW TABLE AS appended
    FOR EACH STATEMENT EXECUTE FUNCTION outreach_reportcount_all_time();
CREATE TRIGGER outreach_consultation_report
    AFTER INSERT OR DELETE ON outreach_consultation
    FOR EACH ROW EXECUTE FUNCTION outreach_consultation_report();
-- A save that changes nothing the report reads (most edits) appends nothing.
CREATE TRIGGER outreach_consultation_report_change
    AFTER UPDATE ON outreach_consultation FOR EACH ROW
    WHEN ((OLD.status, OLD.position, OLD.held_on, OLD.country, OLD.starts_at)
          IS DISTINCT FROM (NEW.status, NEW.position, NEW.held_on, NEW.country, NEW.starts_at))
    EXECUTE FUNCTION outreach_consultation_report();
CREATE TRIGGER outreach_consultation_unions_report
    AFTER INSERT OR DELETE ON outreach_consultation_unions
    FOR EACH ROW EXECUTE FUNCTION outreach_link_report('union', 'union_id');
CREATE TRIGGER outreach_consultation_topics_report
    AFTER INSERT OR DELETE ON outreach_consultation_topics
    FOR EACH ROW EXECUTE FUNCTION outreach_link_report('topic', 'topic_id');
CREATE TRIGGER outreach_consultation_concerns_report
    AFTER INSERT OR DELETE ON outreach_consultation_concerns
    FOR EACH ROW EXECUTE FUNCTION outreach_link_report('concern', 'concern_id');
CREATE TRIGGER outreach_attendance_report
    AFTER INSERT OR DELETE ON outreach_attendance
    FOR EACH ROW EXECUTE FUNCTION outreach_link_report('reach', 'contact_id');
-- Django's save() sets every column: a new role alone changes nothing counted.
CREATE TRIGGER outreach_attendance_report_change
    AFTER UPDATE ON outreach_attendance FOR EACH ROW
    WHEN ((OLD.consultation_id, OLD.contact_id)
          IS DISTINCT FROM (NEW.consultation_id, NEW.contact_id))
    EXECUTE FUNCTION outreach_link_report('reach', 'contact_id');
CREATE TRIGGER outreach_followup_report
    AFTER INSERT OR DELETE ON outreach_followup
    FOR EACH ROW EXECUTE FUNCTION outreach_followup_report();
CREATE TRIGGER outreach_followup_report_change
    AFTER UPDATE ON outreach_followup FOR EACH ROW
    WHEN ((OLD.status, OLD.consultation_id, OLD.sent_at)
          IS DISTINCT FROM (NEW.status, NEW.consultation_id, NEW.sent_at))
    EXECUTE FUNCTION outreach_followup_report();
"""

DROP = """
DROP TRIGGER IF EXISTS outreach_reportcount_all_time ON outreach_reportcount;
DROP TRIGGER IF EXISTS outreach_consultation_report ON outreach_consultation;
DROP TRIGGER IF EXISTS outreach_consultation_report_change ON outreach_consultation;
DROP TRIGGER IF EXISTS outreach_followup_report_change ON outreach_followup;
DROP TRIGGER IF EXISTS outreach_consultation_unions_report ON outreach_consultation_unions;
DROP TRIGGER IF EXISTS outreach_consultation_topics_report ON outreach_consultation_topics;
DROP TRIGGER IF EXISTS outreach_consultation_concerns_report ON outreach_consultation_concerns;
DROP TRIGGER IF EXISTS outreach_attendance_report ON outreach_attendance;
DROP TRIGGER IF EXISTS outreach_attendance_report_change ON outreach_attendance;
DROP TRIGGER IF EXISTS outreach_followup_report ON outreach_followup;
DROP FUNCTION IF EXISTS outreach_followup_report();
DROP FUNCTION IF EXISTS outreach_reportcount_all_time();
DROP FUNCTION IF EXISTS outreach_link_report();
DROP FUNCTION IF EXISTS outreach_consultation_report();
DROP FUNCTION IF EXISTS outreach_report_first_sent(bigint, boolean);
DROP FUNCTION IF EXISTS outreach_report_emit(outreach_consultation, integer);
"""

# Everything again from the base tables, one row per key. Writers wait meanwhile (the lock), so
# that nothing they append is lost or counted twice.
REBUILD = """
LOCK TABLE outreach_reportcount, outreach_reportreach, outreach_reportfirstsent IN EXCLUSIVE MODE;
SET LOCAL outreach.folding = 'on';
DELETE FROM outreach_reportcount;
DELETE FROM outreach_reportreach;
DELETE FROM outreach_reportfirstsent;
INSERT INTO outreach_reportfirstsent (consultation_id, hours)
    SELECT c.id, floor(extract(epoch FROM min(f.sent_at) - c.starts_at) / 3600)::integer
    FROM outreach_consultation AS c JOIN outreach_followup AS f ON f.consultation_id = c.id
    WHERE f.status = 'sent' AND f.sent_at IS NOT NULL
    GROUP BY c.id, c.starts_at;
CREATE TEMPORARY TABLE report_held ON COMMIT DROP AS
    SELECT id, date_trunc('month', held_on)::date AS month, country
    FROM outreach_consultation WHERE status = 'held';
INSERT INTO outreach_reportcount (month, country, kind, key, n)
    SELECT date_trunc('month', held_on)::date, country, 'status', status, count(*)
        FROM outreach_consultation GROUP BY 1, 2, 4
    UNION ALL SELECT date_trunc('month', held_on)::date, country, 'position', position, count(*)
        FROM outreach_consultation WHERE status = 'held' GROUP BY 1, 2, 4
    UNION ALL SELECT h.month, h.country, 'union', l.union_id::text, count(*)
        FROM report_held AS h JOIN outreach_consultation_unions AS l ON l.consultation_id = h.id
        GROUP BY 1, 2, 4
    UNION ALL SELECT h.month, h.country, 'topic', l.topic_id::text, count(*)
        FROM report_held AS h JOIN outreach_consultation_topics AS l ON l.consultation_id = h.id
        GROUP BY 1, 2, 4
    UNION ALL SELECT h.month, h.country, 'concern', l.concern_id::text, count(*)
        FROM report_held AS h JOIN outreach_consultation_concerns AS l
            ON l.consultation_id = h.id
        GROUP BY 1, 2, 4
    UNION ALL SELECT h.month, h.country, 'followup', f.status, count(*)
        FROM report_held AS h JOIN outreach_followup AS f ON f.consultation_id = h.id
        GROUP BY 1, 2, 4
    UNION ALL SELECT h.month, h.country, 'delay', s.hours::text, count(*)
        FROM report_held AS h JOIN outreach_reportfirstsent AS s ON s.consultation_id = h.id
        GROUP BY 1, 2, 4;
INSERT INTO outreach_reportcount (month, country, kind, key, n)
    SELECT NULL, country, kind, key, sum(n) FROM outreach_reportcount GROUP BY 2, 3, 4;
INSERT INTO outreach_reportreach (month, country, contact_id, n)
    SELECT h.month, h.country, a.contact_id, count(*)
        FROM report_held AS h JOIN outreach_attendance AS a ON a.consultation_id = h.id
        GROUP BY 1, 2, 3
    UNION ALL SELECT NULL, '', a.contact_id, count(*)
        FROM report_held AS h JOIN outreach_attendance AS a ON a.consultation_id = h.id
        GROUP BY 3;
-- The rest of the transaction may write more (or rebuild again): copies as usual, no table left.
DROP TABLE report_held;
SET LOCAL outreach.folding = 'off';
"""

# Many appended rows per key become one: the sums do not change, so readers see the same figures
# before and after. Only rows up to a bound are folded, leaving rows being appended alone.
COMPACT = """
WITH folded AS (
    DELETE FROM {table} WHERE id <= %s RETURNING {columns}, n
)
INSERT INTO {table} ({columns}, n)
    SELECT {columns}, sum(n) FROM folded GROUP BY {columns} HAVING sum(n) <> 0
"""
