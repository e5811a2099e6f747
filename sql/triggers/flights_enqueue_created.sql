CREATE TRIGGER flights_enqueue_created
    AFTER INSERT ON flights
    FOR EACH ROW EXECUTE FUNCTION enqueue_flight_created();
