CREATE TRIGGER flights_enqueue_ended
    AFTER UPDATE OF landing_time, timed_out_at ON flights
    FOR EACH ROW
    WHEN ((OLD.landing_time IS NULL AND NEW.landing_time IS NOT NULL)
          OR (OLD.timed_out_at IS NULL AND NEW.timed_out_at IS NOT NULL))
    EXECUTE FUNCTION enqueue_flight_ended();
