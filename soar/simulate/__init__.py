"""`soar simulate`: realistic OGN and ADS-B traffic with its ground truth.

N aircraft fly complete flights from real airfields and runways (OurAirports):
gliders launched by aerotow (with their tow plane) or winch, motor gliders, tow
planes, powered aircraft on local flights and cross-countries, airliners between
large airports. OGN receivers around each field report every fix they hear as
APRS lines (duplicates across receivers included); ADS-B aircraft are heard by one
Beast feed (DF17 identification, airborne and surface position, velocity; DF11,
DF4, DF5), encoded here and checked against pyModeS and soar's own decoder.

    from soar.simulate import SimConfig, record, serve, score, read_truth

    meta = record(SimConfig(start=..., duration_s=600, aircraft=200, beast_aircraft=20),
                  Path("out"))                       # aprs.txt, modes.jsonl, beast.bin,
                                                     # truth.jsonl, simulation.json
    serve(SimConfig(start=now, ...), aprs_port=0, beast_port=0)   # live on 127.0.0.1
    score(read_truth("out/truth.jsonl"), flights, meta["start"], meta["end"])

Modules: `engine` (population and the per-second loop), `flights` (kinematics and
the flight programs), `airfields` (OurAirports fields and runways), `receivers`,
`aprs_encode`, `modes_encode`, `truth` (format and scoring), `recording` (files),
`serve` (APRS-IS and Beast servers). docs/simulator.md describes the model.
"""

from soar.simulate.airfields import REGIONS, parse_region
from soar.simulate.engine import LINES_PER_AIRCRAFT_S, Second, SimConfig, Simulation
from soar.simulate.flights import Profile, State
from soar.simulate.recording import record, replay_chunks
from soar.simulate.serve import serve
from soar.simulate.truth import read as read_truth
from soar.simulate.truth import score

__all__ = ["LINES_PER_AIRCRAFT_S", "REGIONS", "Profile", "Second", "SimConfig", "Simulation",
           "State", "parse_region", "read_truth", "record", "replay_chunks", "score", "serve"]
