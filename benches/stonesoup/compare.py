"""Stone Soup's GNN tracker beside vigie on the same scene, scored by the same GOSPA (issue 3).

    pip install stonesoup        # PyPI; vigie and its tests do not need it
    cargo build --release
    python3 benches/stonesoup/compare.py equihen-pickup side-by-side ...

For each scene, `vigie simulate` writes the recording and the truth; `vigie replay --offline
--tracks-out` gives vigie's tracks; this script runs Stone Soup (dstl) on the same recording
with the same models as vigie's configuration (fixtures/vigie.toml):

- constant velocity, white-noise acceleration `tracker.process_noise` per axis;
- radar plots through Stone Soup's polar model (`CartesianToBearingRange`, extended Kalman
  filter) at each radar's site with its range and bearing sigmas; AIS positions (JSON
  reports) as Cartesian plots with `ais.sigma_m` (no identity: Stone Soup's GNN has none);
- global nearest neighbour (`GNNWith2DAssignment`), Mahalanobis gate `tracker.gate_chi2`;
- tentative tracks confirmed after 3 plots (`MultiMeasurementInitiator`), deleted after
  `tracker.tentative_timeout_s`; confirmed tracks deleted after `tracker.coast_s` without a
  plot.

Both track files are then scored by `vigie score` against the truth: mean GOSPA (c = 100 m,
p = 2) over the truth's sample times, the same function for both. Wall time of each tracker
is printed beside. Scratch files go to /tmp/vigie-stonesoup/SCENE/.
"""

import datetime as dt
import json
import math
import pathlib
import subprocess
import sys
import time
import tomllib

import numpy as np
import pymap3d
from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
from stonesoup.deleter.time import UpdateTimeDeleter
from stonesoup.hypothesiser.distance import DistanceHypothesiser
from stonesoup.initiator.simple import MultiMeasurementInitiator
from stonesoup.measures import Mahalanobis
from stonesoup.models.measurement.linear import LinearGaussian
from stonesoup.models.measurement.nonlinear import CartesianToBearingRange
from stonesoup.models.transition.linear import (
    CombinedLinearGaussianTransitionModel,
    ConstantVelocity,
)
from stonesoup.predictor.kalman import ExtendedKalmanPredictor
from stonesoup.types.angle import Bearing
from stonesoup.types.array import CovarianceMatrix, StateVector
from stonesoup.types.detection import Detection
from stonesoup.types.state import GaussianState
from stonesoup.updater.kalman import ExtendedKalmanUpdater

ROOT = pathlib.Path(__file__).resolve().parents[2]
VIGIE = ROOT / "target" / "release" / "vigie"
KN = 1852.0 / 3600.0


def parse_t(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def rfc(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def stone_soup(rec, cfg, out):
    radars = {r["id"]: r for r in cfg["radar"] if "lat" in r}
    lat0 = sum(r["lat"] for r in radars.values()) / len(radars)
    lon0 = sum(r["lon"] for r in radars.values()) / len(radars)

    def enu(lat, lon):
        e, n, _ = pymap3d.geodetic2enu(lat, lon, 0.0, lat0, lon0, 0.0)
        return e, n

    tr = cfg["tracker"]
    q = tr["process_noise"]
    transition = CombinedLinearGaussianTransitionModel([ConstantVelocity(q), ConstantVelocity(q)])
    predictor = ExtendedKalmanPredictor(transition)
    updater = ExtendedKalmanUpdater(measurement_model=None)
    hypothesiser = DistanceHypothesiser(
        predictor, updater, measure=Mahalanobis(), missed_distance=math.sqrt(tr["gate_chi2"])
    )
    associator = GNNWith2DAssignment(hypothesiser)
    v = tr["init_speed_sigma_mps"] ** 2
    initiator = MultiMeasurementInitiator(
        prior_state=GaussianState(StateVector([0, 0, 0, 0]), CovarianceMatrix(np.diag([0, v, 0, v]))),
        measurement_model=None,
        deleter=UpdateTimeDeleter(dt.timedelta(seconds=tr["tentative_timeout_s"])),
        data_associator=associator,
        updater=updater,
        min_points=3,
    )
    deleter = UpdateTimeDeleter(dt.timedelta(seconds=tr["coast_s"]))
    models = {}
    for rid, r in radars.items():
        sx, sy = enu(r["lat"], r["lon"])
        models[rid] = CartesianToBearingRange(
            ndim_state=4,
            mapping=(0, 2),
            noise_covar=np.diag([math.radians(r["bearing_sigma_deg"]) ** 2, r["range_sigma_m"] ** 2]),
            translation_offset=StateVector([sx, sy]),
        )
    ais_model = LinearGaussian(ndim_state=4, mapping=(0, 2), noise_covar=np.eye(2) * cfg["ais"]["sigma_m"] ** 2)

    tracks, ids, plots, lines = set(), {}, 0, []
    t0 = time.perf_counter()
    for line in open(rec):
        m = json.loads(line)
        topic, p = m["topic"], m["payload"]
        dets = set()
        if "/radar/" in topic and isinstance(p, dict):
            rid = topic.rsplit("/", 1)[1]
            t = parse_t(p["t"])
            for pl in p.get("plots", []):
                if "lat" in pl:
                    # A drone or thermal camera: a geographic plot with its own sigma.
                    e, n = enu(pl["lat"], pl["lon"])
                    geo = LinearGaussian(ndim_state=4, mapping=(0, 2), noise_covar=np.eye(2) * pl["sigma_m"] ** 2)
                    dets.add(Detection(StateVector([e, n]), timestamp=t, measurement_model=geo))
                    continue
                # vigie's bearing is from north, clockwise; Stone Soup's from east, anticlockwise.
                phi = math.pi / 2 - math.radians(pl["bearing_deg"])
                z = StateVector([Bearing(phi), pl["range_m"]])
                dets.add(Detection(z, timestamp=t, measurement_model=models[rid]))
        elif "/ais/" in topic and isinstance(p, (dict, list)):
            for r in p if isinstance(p, list) else [p]:
                if r.get("type") in (1, 2, 3, 18, 19, 27) and "lat" in r and "t" in r:
                    t = parse_t(r["t"])
                    e, n = enu(r["lat"], r["lon"])
                    dets.add(Detection(StateVector([e, n]), timestamp=t, measurement_model=ais_model))
        if not dets:
            continue
        # One instant per batch, as Stone Soup's trackers take them.
        t = max(d.timestamp for d in dets)
        plots += len(dets)
        hyps = associator.associate(tracks, dets, t)
        used = set()
        for track in tracks:
            h = hyps[track]
            if h.measurement:
                track.append(updater.update(h))
                used.add(h.measurement)
                x = track.state_vector
                lat, lon, _ = pymap3d.enu2geodetic(float(x[0]), float(x[2]), 0.0, lat0, lon0, 0.0)
                speed = math.hypot(float(x[1]), float(x[3]))
                tid = ids.setdefault(id(track), f"S{len(ids) + 1}")
                lines.append(
                    json.dumps(
                        {
                            "t": rfc(t),
                            "track_id": tid,
                            "lat": round(lat, 7),
                            "lon": round(lon, 7),
                            "speed_kn": round(speed / KN, 2),
                            "course_deg": round(math.degrees(math.atan2(float(x[1]), float(x[3]))) % 360, 1),
                            "dark": True,
                            "mmsi": None,
                        }
                    )
                )
            else:
                track.append(h.prediction)
        tracks -= deleter.delete_tracks(tracks)
        tracks |= initiator.initiate(dets - used, t)
    took = time.perf_counter() - t0
    out.write_text("\n".join(lines) + "\n")
    return plots, took


def gospa(truth, tracks, empty):
    s = json.loads(run([str(VIGIE), "score", "--alerts", str(empty), "--truth", str(truth), "--tracks", str(tracks), "--json"]))
    return s["gospa_m"]


def main():
    cfg = tomllib.loads((ROOT / "fixtures" / "vigie.toml").read_text())
    print("| scene | contacts | GOSPA vigie (m) | GOSPA Stone Soup (m) | vigie s | Stone Soup s | Stone Soup plots/s |")
    print("|---|---|---|---|---|---|---|")
    for scene in sys.argv[1:] or ["equihen-pickup"]:
        d = pathlib.Path("/tmp/vigie-stonesoup") / scene
        d.mkdir(parents=True, exist_ok=True)
        run([str(VIGIE), "simulate", "--scenario", scene, "--out", str(d)])
        empty = d / "empty.ndjson"
        empty.write_text("")
        t0 = time.perf_counter()
        run([str(VIGIE), "replay", str(d / "rec.ndjson"), "--offline", "--alerts-out", "/dev/null", "--tracks-out", str(d / "vigie-tracks.ndjson")])
        vigie_s = time.perf_counter() - t0
        plots, ss_s = stone_soup(d / "rec.ndjson", cfg, d / "stonesoup-tracks.ndjson")
        gv = gospa(d / "truth.json", d / "vigie-tracks.ndjson", empty)
        gs = gospa(d / "truth.json", d / "stonesoup-tracks.ndjson", empty)
        print(f"| {scene} | {plots} | {gv:.1f} | {gs:.1f} | {vigie_s:.2f} | {ss_s:.1f} | {plots / ss_s:.0f} |", flush=True)


if __name__ == "__main__":
    main()
