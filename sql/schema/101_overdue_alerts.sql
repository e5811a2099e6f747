-- Overdue alerts (revision 0010): a flight that ended by timeout, last heard low or
-- descending, and not heard since (docs/enrichment.md, "Overdue alerts"). The worker
-- raises them while it enriches the flight's `timeout` end (worker/alerts.py), in the
-- transaction that archives that message, and clears them when the aircraft is heard
-- again, the flight resumes or lands, or the aircraft is marked not tracked. Each
-- notice (raised, cleared) is delivered to the optional webhook through the
-- flight_enrichment queue (event `overdue_alert`), so it is retried and dead-lettered
-- like any enrichment message.
--
-- No foreign key to flights: `soar backfill flights` deletes and rewrites flights (a
-- flight found again keeps its id), and an alert is history that must outlive that;
-- the worker's sweep clears an alert whose flight is gone.
CREATE TABLE overdue_alerts (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flight_id          uuid        NOT NULL,
    aircraft_id        bigint      NOT NULL,
    raised_at          timestamptz NOT NULL DEFAULT now(),
    -- Why: 'low' (height above ground at or below the limit), 'low_descending', or
    -- 'descending' (mean vertical rate at or below the limit, not high, not fast).
    reason             text        NOT NULL
                           CHECK (reason IN ('low', 'low_descending', 'descending')),
    last_heard_at      timestamptz NOT NULL,       -- the time of the last fix
    latitude           double precision NOT NULL,
    longitude          double precision NOT NULL,
    altitude_m         real,                        -- MSL (ADS-B: barometric)
    height_m           real,                        -- above height_reference
    height_reference   text,                        -- 'terrain', 'airport DE-0066', ...
    ground_speed_kmh   real,
    track_deg          real,
    vertical_rate_ms   real,                        -- mean over the last fixes
    receivers          text[]      NOT NULL DEFAULT '{}',  -- heard it last, latest first
    identified         boolean     NOT NULL,        -- aircraft.identified when raised
    message            text        NOT NULL,        -- the text a person reads on a phone
    payload            jsonb       NOT NULL,        -- what the webhook receives
    cleared_at         timestamptz,
    cleared_reason     text CHECK (cleared_reason IN ('heard_again', 'resumed', 'landing',
                                                      'not_tracked', 'flight_deleted', 'manual')),
    -- Delivery of each notice to the webhook: pending -> delivered | no_webhook | failed
    -- (dead-lettered; `soar queue retry-dead` sets it back to pending).
    raise_delivery     text        NOT NULL DEFAULT 'pending'
                           CHECK (raise_delivery IN ('pending', 'delivered', 'no_webhook', 'failed')),
    clear_delivery     text CHECK (clear_delivery IN ('pending', 'delivered', 'no_webhook', 'failed')),
    delivery_error     text,
    CHECK ((cleared_at IS NULL) = (cleared_reason IS NULL)),
    -- One alert per end of a flight: a flight that resumed and timed out again has a
    -- new last_heard_at and may raise again; the same end processed twice may not.
    CONSTRAINT overdue_alerts_flight_end_key UNIQUE (flight_id, last_heard_at)
);
-- The sweep and the view read the active alerts only: a handful at any time.
CREATE INDEX overdue_alerts_active_idx ON overdue_alerts (aircraft_id) WHERE cleared_at IS NULL;

-- Worker: raise (INSERT), clear and record deliveries (these columns only), read.
-- An identity column needs no sequence privilege.
GRANT SELECT ON overdue_alerts TO soar_worker;
GRANT INSERT (flight_id, aircraft_id, reason, last_heard_at, latitude, longitude, altitude_m,
              height_m, height_reference, ground_speed_kmh, track_deg, vertical_rate_ms,
              receivers, identified, message, payload)
    ON overdue_alerts TO soar_worker;
GRANT UPDATE (cleared_at, cleared_reason, raise_delivery, clear_delivery, delivery_error)
    ON overdue_alerts TO soar_worker;
-- The read-only role reads the view overdue_flights (views/overdue_flights.sql), never
-- the table: the view masks the registration and callsign as aircraft_public does.
REVOKE ALL ON overdue_alerts FROM soar_readonly;
