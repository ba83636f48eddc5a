-- Investigation: GET /v1/audit filters by action, actor, target and time;
-- each filter walks its own index in `seq` order (a page of a million-event
-- log without scanning it).
CREATE INDEX audit_events_by_action ON audit_events (action, seq);
CREATE INDEX audit_events_by_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_by_target ON audit_events (target, seq);
CREATE INDEX audit_events_by_outcome ON audit_events (outcome, seq);
CREATE INDEX audit_events_by_at ON audit_events (at);
