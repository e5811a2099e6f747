-- A runway designator from a heading in degrees: heading / 10, rounded, 01..36
-- (0 becomes 36). Designators are magnetic; given a true heading the result is an
-- approximation, which callers flag as inferred. 355 -> '36', 5 -> '01', 176 -> '18'.
CREATE OR REPLACE FUNCTION runway_ident_from_heading(heading double precision)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT lpad(((round(((heading::numeric % 360) + 360) % 360 / 10)::int + 35) % 36 + 1)::text,
                2, '0')
$$;
