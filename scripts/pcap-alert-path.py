#!/usr/bin/env python3
"""Where an alert's milliseconds go on the wire: from a loopback packet capture of the
latency bench (issue 23), each alert event's way in three parts —

  contact published → contact at vigie   (the bench's radar scan, broker → vigie's socket)
  contact at vigie  → alert leaves vigie (vigie's own share: reading, tracking, writing)
  alert at broker   → alert to the subscriber (the broker's share of the second hop)

and, for the slow ones, what the loopback carried meanwhile (silence means no process
that talks to the broker was running: the cores were busy elsewhere).

    tcpdump -i lo -s 0 -w /tmp/cap.pcap 'tcp port 1883' &
    VIGIE_BENCH_SUSTAIN=10000x20 VIGIE_BENCH_MQTT_URL=mqtt://127.0.0.1:1883 \\
        cargo bench --bench latency
    kill %1; python3 scripts/pcap-alert-path.py /tmp/cap.pcap [PORT]

Reads classic pcap (Ethernet or Linux cooked link types), IPv4 loopback. An alert event is
matched on the wire by its id, state and event time `t`; its proving radar scan by the
same event time. Standard library only.
"""
import bisect
import collections
import re
import struct
import sys


def packets(path):
    """(time s, source port, destination port, TCP payload) for each packet."""
    with open(path, "rb") as f:
        head = f.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
        link = struct.unpack("<I", head[20:24])[0]
        skip = 14 if link == 1 else 16
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            sec, frac, incl, _ = struct.unpack("<IIII", h)
            d = f.read(incl)
            ip = d[skip:]
            tcp = ip[(ip[0] & 15) * 4:]
            sport, dport = struct.unpack(">HH", tcp[:4])
            yield sec + frac * scale, sport, dport, tcp[(tcp[12] >> 4) * 4:]


EVENT = re.compile(
    rb'\{"id":"(tb-[^"]+)","kind":"taxi_boat_pickup","state":"(\w+)".*?"t":"([^"]+)"'
)


def q(values, p):
    v = sorted(values)
    return v[int(round((len(v) - 1) * p))]


def main():
    path = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 1883
    alerts = collections.defaultdict(dict)  # (id, state, t) -> {"in": s, "out": s}
    scans = collections.defaultdict(dict)  # t -> {"pub": s, "vigie": s}
    radar = []  # (t, time, to broker?) of radar scans, matched once the alerts are known
    everything = []  # (time, sport, dport, bytes)
    for ts, sport, dport, payload in packets(path):
        everything.append((ts, sport, dport, len(payload)))
        if not payload:
            continue
        if b"taxi_boat_pickup" in payload:
            for m in EVENT.finditer(payload):
                # The retained copy on alerts/active/… goes first; the event is the one.
                if b"/alerts/active/" in payload[max(0, m.start() - 80):m.start()]:
                    continue
                key = tuple(g.decode() for g in m.groups())
                alerts[key].setdefault("in" if dport == port else "out", ts)
        if b"/contacts/radar" in payload:
            for m in re.finditer(rb'"t":"([^"]+)"', payload):
                radar.append((m.group(1).decode(), ts, dport == port))
    wanted = {k[2] for k in alerts}
    for t, ts, to_broker in radar:
        if t in wanted:
            scans[t].setdefault("pub" if to_broker else "vigie", ts)
    rows = []
    for key, a in alerts.items():
        s = scans.get(key[2], {})
        if {"in", "out"} <= a.keys() and {"pub", "vigie"} <= s.keys():
            rows.append((key, s["pub"], s["vigie"], a["in"], a["out"]))
    if not rows:
        sys.exit("no alert event with its proving radar scan in this capture")
    parts = [
        ("contact published → at vigie", lambda r: r[2] - r[1]),
        ("at vigie → alert leaves vigie", lambda r: r[3] - r[2]),
        ("alert at broker → to subscriber", lambda r: r[4] - r[3]),
        ("contact published → alert to subscriber", lambda r: r[4] - r[1]),
    ]
    print(f"{len(rows)} alert events proved by a radar scan (ms)")
    print("| part | p50 | p90 | p99 | max |\n|---|---|---|---|---|")
    for name, fn in parts:
        v = [fn(r) * 1e3 for r in rows]
        print(f"| {name} | {q(v, .5):.3f} | {q(v, .9):.3f} | {q(v, .99):.3f} | {max(v):.3f} |")
    times = [p[0] for p in everything]
    print("\nslowest second hops: what the loopback carried meanwhile")
    for r in sorted(rows, key=lambda r: r[4] - r[3])[-5:]:
        seg = everything[bisect.bisect_left(times, r[3]):bisect.bisect_right(times, r[4])]
        gaps = [b[0] - a[0] for a, b in zip(seg, seg[1:])] or [0]
        print(
            f"  {r[0][1]:8} broker {(r[4] - r[3]) * 1e3:.3f} ms: {len(seg)} packets, "
            f"longest silence {max(gaps) * 1e3:.3f} ms"
        )


if __name__ == "__main__":
    main()
